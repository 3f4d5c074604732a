#include "live_stats.h"

#include <QVariantMap>

namespace hlwq::ui {

LiveStats::LiveStats(app::EngineClient* engine, app::ChatStore* store, QObject* parent)
    : QObject(parent), engine_(engine), store_(store) {
  kv_mode_ = store_->setting(QStringLiteral("kv_mode"), QStringLiteral("fp16"));
  if (!parseKvMode(kv_mode_)) kv_mode_ = QStringLiteral("fp16");
  poll_.setInterval(250);
  connect(&poll_, &QTimer::timeout, this, &LiveStats::refresh);
  poll_.start();
  connect(engine_, &app::EngineClient::kvChanged, this, [this](bool ok, const QString& error) {
    kv_switching_ = false;
    if (!ok) {
      kv_mode_ = kvModeName(engine_->stats().kv);
      emit kvError(error);
    }
    emit kvModeChanged();
    refresh();
  });
}

std::optional<KvConfig> LiveStats::parseKvMode(const QString& name) {
  const QString n = name.toLower();
  if (n == QLatin1String("fp16")) return KvConfig::uniform(16);
  if (n == QLatin1String("q4")) return KvConfig::uniform(4);
  if (n == QLatin1String("q3")) return KvConfig::uniform(3);
  if (n == QLatin1String("q2")) return KvConfig::uniform(2);
  return std::nullopt;
}

QString LiveStats::kvModeName(const KvConfig& kv) {
  if (kv.k_bits == kv.v_bits) return kv.k_bits >= 16 ? QStringLiteral("fp16") : QStringLiteral("q%1").arg(kv.k_bits);
  return QStringLiteral("k%1v%2").arg(kv.k_bits).arg(kv.v_bits);
}

void LiveStats::setKvMode(const QString& mode) {
  const auto kv = parseKvMode(mode);
  if (!kv || mode.toLower() == kv_mode_) return;
  kv_mode_ = mode.toLower();
  kv_switching_ = true;
  store_->setSetting(QStringLiteral("kv_mode"), kv_mode_);
  engine_->setKv(*kv);
  emit kvModeChanged();
}

QVariantList LiveStats::breakdown() const {
  const auto& m = s_.memory;
  auto item = [](const char* name, uint64_t bytes) { return QVariantMap{{"name", QString::fromLatin1(name)}, {"bytes", double(bytes)}}; };
  return {item("Weights", m.weights), item("Embedding", m.embedding), item("KV cache", m.kv_cache),
          item("DeltaNet state", m.recurrent_state), item("Scratch", m.scratch), item("Runtime", m.runtime)};
}

double LiveStats::engineBytes() const {
  const auto& m = s_.memory;
  return double(m.weights + m.embedding + m.kv_cache + m.recurrent_state + m.scratch + m.runtime);
}

double LiveStats::kvRatio() const {
  // Bytes per token, so the ratio is defined before the first token too.
  if (s_.memory.kv_used > 0) return double(s_.memory.kv_used_fp16) / double(s_.memory.kv_used);
  const KvConfig kv = s_.kv;
  const double bits = (kv.k_bits + kv.v_bits) / 2.0;
  return bits > 0 ? 16.0 / bits : 1.0;  // nominal until tokens exist; real bytes include scales
}

void LiveStats::refresh() {
  s_ = engine_->stats();
  if (!kv_switching_ && s_.backend.size()) kv_mode_ = kvModeName(s_.kv);
  const QString mode = kvModeName(s_.kv);
  if (s_.context_used != last_history_context_ || mode != last_history_mode_) {
    if (s_.context_used < last_history_context_) history_.clear();  // a new or reset conversation
    if (s_.context_used > 0 || !history_.isEmpty()) {
      history_.push_back(QVariantMap{{"context", s_.context_used},
                                     {"bytes", double(s_.memory.kv_used)},
                                     {"fp16", double(s_.memory.kv_used_fp16)},
                                     {"mode", mode}});
      if (history_.size() > 400) history_.removeFirst();
      emit historyChanged();
    }
    last_history_context_ = s_.context_used;
    last_history_mode_ = mode;
  }
  emit changed();
}

void LiveStats::clearHistory() {
  history_.clear();
  last_history_context_ = -1;
  emit historyChanged();
}

void LiveStats::noteToken() {
  if (tokens_in_reply_++ == 0) token_clock_.start();
  else if (token_clock_.elapsed() > 0) live_tps_ = (tokens_in_reply_ - 1) * 1000.0 / double(token_clock_.elapsed());
}

void LiveStats::replyFinished() {
  tokens_in_reply_ = 0;
  live_tps_ = 0;
  refresh();
}

}  // namespace hlwq::ui
