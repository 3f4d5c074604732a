#pragma once
// The live panel's numbers: the GPU's memory, the engine's own breakdown, the KV mode with its
// real bytes against FP16, context and speed. Polled from Session::stats() (thread-safe), so
// it never waits for the engine thread. Also owns the KV mode toggle.
#include <QObject>
#include <QTimer>
#include <QVariantList>
#include <QtQml/qqmlregistration.h>

#include "chat_store.h"
#include "engine_client.h"

namespace hlwq::ui {

class LiveStats : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("owned by App")
  Q_PROPERTY(QString backend READ backend NOTIFY changed)
  Q_PROPERTY(QString device READ device NOTIFY changed)
  Q_PROPERTY(QString gpuUnused READ gpuUnused NOTIFY changed)  // why "auto" stayed on the CPU
  Q_PROPERTY(QString modelName READ modelName NOTIFY changed)
  Q_PROPERTY(double deviceTotal READ deviceTotal NOTIFY changed)
  Q_PROPERTY(double deviceFree READ deviceFree NOTIFY changed)
  Q_PROPERTY(double deviceUsed READ deviceUsed NOTIFY changed)
  Q_PROPERTY(QVariantList breakdown READ breakdown NOTIFY changed)  // [{name, bytes}]
  Q_PROPERTY(double engineBytes READ engineBytes NOTIFY changed)
  Q_PROPERTY(double kvCacheBytes READ kvCacheBytes NOTIFY changed)
  Q_PROPERTY(double kvUsedBytes READ kvUsedBytes NOTIFY changed)
  Q_PROPERTY(double kvUsedFp16Bytes READ kvUsedFp16Bytes NOTIFY changed)
  Q_PROPERTY(double kvRatio READ kvRatio NOTIFY changed)
  Q_PROPERTY(int contextUsed READ contextUsed NOTIFY changed)
  Q_PROPERTY(int contextMax READ contextMax NOTIFY changed)
  Q_PROPERTY(double tokensPerSecond READ tokensPerSecond NOTIFY changed)
  Q_PROPERTY(QString kvMode READ kvMode WRITE setKvMode NOTIFY kvModeChanged)
  Q_PROPERTY(QStringList kvModes READ kvModes CONSTANT)
  Q_PROPERTY(bool kvSwitching READ kvSwitching NOTIFY kvModeChanged)
  Q_PROPERTY(QVariantList kvHistory READ kvHistory NOTIFY historyChanged)  // [{context, bytes, fp16}]
 public:
  LiveStats(app::EngineClient* engine, app::ChatStore* store, QObject* parent = nullptr);

  static std::optional<KvConfig> parseKvMode(const QString& name);  // fp16 | q4 | q3 | q2
  static QString kvModeName(const KvConfig& kv);

  QString backend() const { return QString::fromStdString(s_.backend); }
  QString device() const { return QString::fromStdString(s_.device); }
  QString gpuUnused() const { return QString::fromStdString(s_.gpu_unused); }
  QString modelName() const { return QString::fromStdString(s_.model_name); }
  double deviceTotal() const { return double(s_.device_total); }
  double deviceFree() const { return double(s_.device_free); }
  double deviceUsed() const { return s_.device_total > s_.device_free ? double(s_.device_total - s_.device_free) : 0; }
  QVariantList breakdown() const;
  double engineBytes() const;
  double kvCacheBytes() const { return double(s_.memory.kv_cache); }
  double kvUsedBytes() const { return double(s_.memory.kv_used); }
  double kvUsedFp16Bytes() const { return double(s_.memory.kv_used_fp16); }
  double kvRatio() const;
  int contextUsed() const { return s_.context_used; }
  int contextMax() const { return s_.context_max; }
  double tokensPerSecond() const { return live_tps_ > 0 ? live_tps_ : s_.generation_tokens_per_s; }
  QString kvMode() const { return kv_mode_; }
  void setKvMode(const QString& mode);
  QStringList kvModes() const { return {"fp16", "q4", "q3", "q2"}; }
  bool kvSwitching() const { return kv_switching_; }
  QVariantList kvHistory() const { return history_; }

  Q_INVOKABLE void refresh();
  Q_INVOKABLE void clearHistory();
  void noteToken();  // a streamed token arrived: feeds the live tokens/s
  void replyFinished();

 signals:
  void changed();
  void kvModeChanged();
  void historyChanged();
  void kvError(const QString& error);

 private:
  app::EngineClient* engine_;
  app::ChatStore* store_;
  SessionStats s_;
  QTimer poll_;
  QString kv_mode_;
  bool kv_switching_ = false;
  QVariantList history_;
  int last_history_context_ = -1;
  QString last_history_mode_;
  QElapsedTimer token_clock_;
  int tokens_in_reply_ = 0;
  double live_tps_ = 0;
};

}  // namespace hlwq::ui
