#include "chat_controller.h"

#include <QFile>
#include <QJsonDocument>
#include <QUrl>

namespace hlwq::ui {
namespace {
// How often a streaming reply is written to the database: often enough that a crash loses
// under a quarter second, rarely enough that SQLite never shows up in the event loop.
constexpr int kFlushIntervalMs = 200;

QString title_from(const QString& text) {
  QString t = text.trimmed().section('\n', 0, 0).simplified();
  if (t.size() > 48) t = t.left(47) + QChar(0x2026);
  return t.isEmpty() ? QObject::tr("New chat") : t;
}
}  // namespace

ChatController::ChatController(app::ChatStore* store, app::EngineClient* engine, ConversationListModel* conversations,
                               MessageListModel* messages, QObject* parent)
    : QObject(parent), store_(store), engine_(engine), conversations_(conversations), messages_(messages) {
  thinking_ = store_->setting(QStringLiteral("thinking"), QStringLiteral("1")) == QLatin1String("1");
  temperature_ = store_->setting(QStringLiteral("temperature"), QStringLiteral("0.7")).toDouble();
  top_p_ = store_->setting(QStringLiteral("top_p"), QStringLiteral("0.95")).toDouble();
  top_k_ = store_->setting(QStringLiteral("top_k"), QStringLiteral("20")).toInt();
  max_new_tokens_ = store_->setting(QStringLiteral("max_new_tokens"), QStringLiteral("2048")).toInt();
  connect(engine_, &app::EngineClient::streamed, this, &ChatController::onStreamed);
  connect(engine_, &app::EngineClient::chatFinished, this, &ChatController::onFinished);
}

QString ChatController::currentTitle() const { return chat_id_ ? store_->chat(chat_id_).title : QString(); }
QString ChatController::systemPrompt() const { return chat_id_ ? store_->chat(chat_id_).system_prompt : QString(); }

void ChatController::setSystemPrompt(const QString& prompt) {
  if (!chat_id_) newChat();
  store_->setSystemPrompt(chat_id_, prompt);
  emit currentChatChanged();
}

void ChatController::setModelReady(bool ready) {
  if (ready == model_ready_) return;
  model_ready_ = ready;
  emit modelReadyChanged();
}

void ChatController::setThinkingEnabled(bool on) { thinking_ = on; saveSettings(); }
void ChatController::setTemperature(double t) { temperature_ = std::clamp(t, 0.0, 2.0); saveSettings(); }
void ChatController::setTopP(double p) { top_p_ = std::clamp(p, 0.0, 1.0); saveSettings(); }
void ChatController::setTopK(int k) { top_k_ = std::max(0, k); saveSettings(); }
void ChatController::setMaxNewTokens(int n) { max_new_tokens_ = std::clamp(n, 1, 32768); saveSettings(); }

void ChatController::saveSettings() {
  store_->setSetting(QStringLiteral("thinking"), thinking_ ? QStringLiteral("1") : QStringLiteral("0"));
  store_->setSetting(QStringLiteral("temperature"), QString::number(temperature_));
  store_->setSetting(QStringLiteral("top_p"), QString::number(top_p_));
  store_->setSetting(QStringLiteral("top_k"), QString::number(top_k_));
  store_->setSetting(QStringLiteral("max_new_tokens"), QString::number(max_new_tokens_));
  emit settingsChanged();
}

void ChatController::setError(const QString& e) {
  last_error_ = e;
  emit lastErrorChanged();
}

qint64 ChatController::newChat() {
  if (busy()) stop();
  try {
    const qint64 id = store_->createChat(tr("New chat"));
    conversations_->refresh();
    selectChat(id);
    return id;
  } catch (const std::exception& e) {
    setError(QString::fromStdString(e.what()));
    return 0;
  }
}

void ChatController::selectChat(qint64 id) {
  if (id == chat_id_) return;
  if (busy()) stop();
  chat_id_ = id;
  messages_->setMessages(id ? store_->messages(id) : QList<app::StoredMessage>{});
  engine_->reset();  // another conversation: the cached prefix is no longer ours
  emit currentChatChanged();
}

void ChatController::renameChat(qint64 id, const QString& title) {
  const QString t = title.trimmed();
  if (t.isEmpty()) return;
  store_->renameChat(id, t);
  conversations_->refresh();
  if (id == chat_id_) emit currentChatChanged();
}

void ChatController::deleteChat(qint64 id) {
  if (id == chat_id_) {
    if (busy()) stop();
    selectChat(0);
  }
  store_->deleteChat(id);
  conversations_->refresh();
}

bool ChatController::send(const QString& text) {
  if (text.trimmed().isEmpty() || busy()) return false;
  if (!model_ready_) {
    setError(tr("No model is loaded. Open Models to load one."));
    return false;
  }
  if (!chat_id_ && !newChat()) return false;
  try {
    return sendInChat(text);
  } catch (const std::exception& e) {  // the database refused (disk full, read-only)
    setError(QString::fromStdString(e.what()));
    return false;
  }
}

bool ChatController::sendInChat(const QString& text) {
  // The first message names the chat, unless the user already renamed it.
  if (messages_->rowCount() == 0 && store_->chat(chat_id_).title == tr("New chat")) {
    store_->renameChat(chat_id_, title_from(text));
    emit currentChatChanged();
  }
  app::StoredMessage m;
  m.chat_id = chat_id_;
  m.role = QStringLiteral("user");
  m.content = text;
  m.state = QStringLiteral("done");
  m.id = store_->addMessage(m);
  messages_->append(m);
  startReply();
  conversations_->refresh();
  return true;
}

void ChatController::startReply() {
  setError({});
  std::vector<ChatMessage> history;
  const QString system = systemPrompt();
  if (!system.trimmed().isEmpty()) history.push_back({"system", system.toStdString(), {}, nullptr, {}});
  for (const auto& m : messages_->all()) {
    if (m.state == QLatin1String("error")) continue;
    // Earlier thinking is not sent back: Qwen3.5's template drops it for past turns anyway.
    history.push_back({m.role.toStdString(), m.content.toStdString(), {}, nullptr, {}});
  }
  GenerationOptions options;
  options.sampling.temperature = float(temperature_);
  options.sampling.top_p = float(top_p_);
  options.sampling.top_k = top_k_;
  options.max_new_tokens = max_new_tokens_;
  options.enable_thinking = thinking_;

  app::StoredMessage reply;
  reply.chat_id = chat_id_;
  reply.role = QStringLiteral("assistant");
  reply.state = QStringLiteral("streaming");
  reply.kv_mode = kv_mode_;
  reply.id = store_->addMessage(reply);
  messages_->append(reply);
  reply_row_ = messages_->rowCount() - 1;
  reply_tokens_ = 0;
  reply_ttft_ = 0;
  reply_clock_.start();
  flush_clock_.start();
  request_ = engine_->chat(std::move(history), options);
  emit busyChanged();
  emit replyStarted();
}

void ChatController::onStreamed(quint64 id, bool thinking, const QString& text) {
  if (id != request_ || reply_row_ < 0) return;
  if (reply_tokens_++ == 0) reply_ttft_ = reply_clock_.nsecsElapsed() / 1e9;
  messages_->appendText(reply_row_, thinking, text);
  if (flush_clock_.elapsed() >= kFlushIntervalMs) persistStreaming();
}

void ChatController::persistStreaming() {
  app::StoredMessage m = messages_->at(reply_row_);
  m.tokens = reply_tokens_;
  m.ttft_s = reply_ttft_;
  store_->updateMessage(m);
  flush_clock_.restart();
  emit chunkPersisted(int(m.content.size()));
}

void ChatController::onFinished(const app::ChatOutcome& outcome) {
  if (outcome.id != request_ || reply_row_ < 0) return;
  app::StoredMessage m = messages_->at(reply_row_);
  // The stream is authoritative; the result only fills in when no chunk arrived.
  if (m.content.isEmpty()) m.content = outcome.answer;
  if (m.thinking.isEmpty()) m.thinking = outcome.reasoning;
  if (outcome.stop_reason == QLatin1String("error")) {
    m.state = QStringLiteral("error");
    if (m.content.isEmpty()) m.content = outcome.error;
    setError(outcome.error);
  } else {
    m.state = outcome.stop_reason == QLatin1String("cancelled") ? QStringLiteral("cancelled") : QStringLiteral("done");
  }
  m.tokens = outcome.stats.generated_tokens > 0 ? outcome.stats.generated_tokens : reply_tokens_;
  m.tokens_per_s = outcome.stats.generation_tokens_per_s;
  m.ttft_s = outcome.stats.time_to_first_token_s > 0 ? outcome.stats.time_to_first_token_s : reply_ttft_;
  store_->updateMessage(m);
  messages_->replace(reply_row_, m);
  request_ = 0;
  reply_row_ = -1;
  emit busyChanged();
  emit replyFinished(outcome.stop_reason);
}

void ChatController::stop() {
  if (busy()) engine_->cancel();
}

bool ChatController::regenerate() {
  if (busy() || !model_ready_) return false;
  try {
    return regenerateLast();
  } catch (const std::exception& e) {
    setError(QString::fromStdString(e.what()));
    return false;
  }
}

bool ChatController::regenerateLast() {
  int row = messages_->rowCount() - 1;
  if (row < 0) return false;
  if (messages_->at(row).role == QLatin1String("assistant")) {
    store_->deleteMessagesFrom(chat_id_, messages_->at(row).id);
    messages_->truncate(row);
  }
  if (messages_->rowCount() == 0 || messages_->at(messages_->rowCount() - 1).role != QLatin1String("user")) return false;
  startReply();
  return true;
}

bool ChatController::editAndResend(int row, const QString& text) {
  if (busy() || !model_ready_ || text.trimmed().isEmpty()) return false;
  if (row < 0 || row >= messages_->rowCount() || messages_->at(row).role != QLatin1String("user")) return false;
  app::StoredMessage m = messages_->at(row);
  store_->deleteMessagesFrom(chat_id_, m.id + 1);
  messages_->truncate(row + 1);
  m.content = text;
  store_->updateMessage(m);
  messages_->replace(row, m);
  try {
    startReply();
  } catch (const std::exception& e) {
    setError(QString::fromStdString(e.what()));
    return false;
  }
  return true;
}

QString ChatController::exportMarkdown() const { return chat_id_ ? store_->exportMarkdown(chat_id_) : QString(); }

QString ChatController::exportJson() const {
  return chat_id_ ? QString::fromUtf8(QJsonDocument(store_->exportJson(chat_id_)).toJson(QJsonDocument::Indented))
                  : QString();
}

bool ChatController::exportToFile(const QString& path_or_url) {
  const QUrl url(path_or_url);
  const QString path = url.isLocalFile() ? url.toLocalFile() : path_or_url;
  QFile f(path);
  if (!chat_id_ || !f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
    setError(tr("Cannot write %1").arg(path));
    return false;
  }
  const QString body = path.endsWith(QLatin1String(".json"), Qt::CaseInsensitive) ? exportJson() : exportMarkdown();
  f.write(body.toUtf8());
  return true;
}

}  // namespace hlwq::ui
