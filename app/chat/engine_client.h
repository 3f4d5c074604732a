#pragma once
// The GUI side of the engine thread. Owns the QThread and the EngineWorker on it; every call
// crosses as a queued signal, so nothing here blocks the event loop. cancel() and stats() go
// straight to the Session, which allows them from any thread.
#include <QObject>
#include <QThread>
#include <atomic>
#include <memory>

#include "engine_worker.h"

namespace hlwq::app {

class EngineClient : public QObject {
  Q_OBJECT
 public:
  explicit EngineClient(std::shared_ptr<Session> session, QObject* parent = nullptr);
  ~EngineClient() override;

  void load(const LoadOptions& options);
  void unload();
  quint64 chat(std::vector<ChatMessage> messages, GenerationOptions options);  // returns the request id
  void cancel();  // stops the running and every queued chat now
  void setKv(const KvConfig& kv);
  void reset();
  SessionStats stats() const { return session_->stats(); }
  QThread* thread_for_tests() { return &thread_; }

 signals:
  void loadProgress(double fraction, const QString& stage);
  void loadFinished(bool ok, const QString& error);
  void unloaded();
  void streamed(quint64 id, bool thinking, const QString& text);
  void chatFinished(const hlwq::app::ChatOutcome& outcome);
  void kvChanged(bool ok, const QString& error);

  // To the worker (queued).
  void requestLoad(const hlwq::LoadOptions& options);
  void requestUnload();
  void requestChat(const hlwq::app::ChatRequest& request);
  void requestKv(const hlwq::KvConfig& kv);
  void requestReset();

 private:
  std::shared_ptr<Session> session_;
  std::shared_ptr<std::atomic<quint64>> cancelled_upto_;
  quint64 next_id_ = 0;
  QThread thread_;
  EngineWorker* worker_;
};

}  // namespace hlwq::app
