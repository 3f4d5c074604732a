#pragma once
// The engine side of the app: a QObject that lives on its own QThread and owns every
// blocking Session call. The GUI talks to it only through queued signals (EngineClient).
#include <QObject>
#include <QString>
#include <atomic>
#include <memory>

#include "session/session.h"

namespace hlwq::app {

struct ChatRequest {
  quint64 id = 0;
  std::vector<ChatMessage> messages;
  GenerationOptions options;
};

struct ChatOutcome {
  quint64 id = 0;
  QString answer;
  QString reasoning;
  QString stop_reason;  // "stop", "length", "cancelled", "stop_string", "error"
  QString error;        // set when stop_reason is "error"
  SessionStats stats;
};

class EngineWorker : public QObject {
  Q_OBJECT
 public:
  // cancelled_upto: requests with an id at or below it are dropped before they start, so a
  // Stop pressed while a request still waits in the queue also takes effect at once.
  EngineWorker(std::shared_ptr<Session> session, std::shared_ptr<std::atomic<quint64>> cancelled_upto);

 public slots:
  void load(const hlwq::LoadOptions& options);
  void unload();
  void chat(const hlwq::app::ChatRequest& request);
  void setKv(const hlwq::KvConfig& kv);
  void reset();

 signals:
  void loadProgress(double fraction, const QString& stage);
  void loadFinished(bool ok, const QString& error);
  void unloaded();
  void streamed(quint64 id, bool thinking, const QString& text);
  void chatFinished(const hlwq::app::ChatOutcome& outcome);
  void kvChanged(bool ok, const QString& error);

 private:
  std::shared_ptr<Session> session_;
  std::shared_ptr<std::atomic<quint64>> cancelled_upto_;
};

}  // namespace hlwq::app

Q_DECLARE_METATYPE(hlwq::LoadOptions)
Q_DECLARE_METATYPE(hlwq::KvConfig)
Q_DECLARE_METATYPE(hlwq::app::ChatRequest)
Q_DECLARE_METATYPE(hlwq::app::ChatOutcome)
