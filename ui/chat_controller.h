#pragma once
// The chat itself: which conversation is open, sending, streaming into the message list,
// stop / regenerate / edit-and-resend, the per-chat system prompt and the sampling settings.
// Every engine call goes through EngineClient (queued to the engine thread).
#include <QElapsedTimer>
#include <QObject>
#include <QtQml/qqmlregistration.h>

#include "chat_store.h"
#include "conversation_list_model.h"
#include "engine_client.h"
#include "message_list_model.h"

namespace hlwq::ui {

class ChatController : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("owned by App")
  Q_PROPERTY(qint64 currentChatId READ currentChatId NOTIFY currentChatChanged)
  Q_PROPERTY(QString currentTitle READ currentTitle NOTIFY currentChatChanged)
  Q_PROPERTY(QString systemPrompt READ systemPrompt WRITE setSystemPrompt NOTIFY currentChatChanged)
  Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)
  Q_PROPERTY(bool modelReady READ modelReady WRITE setModelReady NOTIFY modelReadyChanged)
  Q_PROPERTY(QString lastError READ lastError NOTIFY lastErrorChanged)
  Q_PROPERTY(bool thinkingEnabled READ thinkingEnabled WRITE setThinkingEnabled NOTIFY settingsChanged)
  Q_PROPERTY(double temperature READ temperature WRITE setTemperature NOTIFY settingsChanged)
  Q_PROPERTY(double topP READ topP WRITE setTopP NOTIFY settingsChanged)
  Q_PROPERTY(int topK READ topK WRITE setTopK NOTIFY settingsChanged)
  Q_PROPERTY(int maxNewTokens READ maxNewTokens WRITE setMaxNewTokens NOTIFY settingsChanged)
 public:
  ChatController(app::ChatStore* store, app::EngineClient* engine, ConversationListModel* conversations,
                 MessageListModel* messages, QObject* parent = nullptr);

  qint64 currentChatId() const { return chat_id_; }
  QString currentTitle() const;
  QString systemPrompt() const;
  void setSystemPrompt(const QString& prompt);
  bool busy() const { return request_ != 0; }
  bool modelReady() const { return model_ready_; }
  void setModelReady(bool ready);
  QString lastError() const { return last_error_; }
  bool thinkingEnabled() const { return thinking_; }
  void setThinkingEnabled(bool on);
  double temperature() const { return temperature_; }
  void setTemperature(double t);
  double topP() const { return top_p_; }
  void setTopP(double p);
  int topK() const { return top_k_; }
  void setTopK(int k);
  int maxNewTokens() const { return max_new_tokens_; }
  void setMaxNewTokens(int n);
  void setKvModeName(const QString& name) { kv_mode_ = name; }  // recorded with each reply

  Q_INVOKABLE qint64 newChat();
  Q_INVOKABLE void selectChat(qint64 id);
  Q_INVOKABLE void renameChat(qint64 id, const QString& title);
  Q_INVOKABLE void deleteChat(qint64 id);
  Q_INVOKABLE bool send(const QString& text);
  Q_INVOKABLE void stop();
  Q_INVOKABLE bool regenerate();
  Q_INVOKABLE bool editAndResend(int row, const QString& text);
  Q_INVOKABLE QString exportMarkdown() const;
  Q_INVOKABLE QString exportJson() const;
  Q_INVOKABLE bool exportToFile(const QString& path_or_url);  // .json or Markdown by extension

 signals:
  void currentChatChanged();
  void busyChanged();
  void modelReadyChanged();
  void lastErrorChanged();
  void settingsChanged();
  void replyStarted();
  void replyFinished(const QString& stopReason);
  void chunkPersisted(int answerChars);  // the streamed text so far is in the database

 private:
  bool sendInChat(const QString& text);
  bool regenerateLast();
  void startReply();  // throws hlwq::Error when the database refuses
  void onStreamed(quint64 id, bool thinking, const QString& text);
  void onFinished(const app::ChatOutcome& outcome);
  void persistStreaming();
  void setError(const QString& e);
  void saveSettings();

  app::ChatStore* store_;
  app::EngineClient* engine_;
  ConversationListModel* conversations_;
  MessageListModel* messages_;
  qint64 chat_id_ = 0;
  quint64 request_ = 0;   // the reply in flight, 0 when idle
  int reply_row_ = -1;
  int reply_tokens_ = 0;
  double reply_ttft_ = 0;
  QElapsedTimer reply_clock_;
  QElapsedTimer flush_clock_;
  bool model_ready_ = false;
  QString last_error_;
  QString kv_mode_ = QStringLiteral("fp16");
  bool thinking_ = true;
  double temperature_ = 0.7;
  double top_p_ = 0.95;
  int top_k_ = 20;
  int max_new_tokens_ = 2048;
};

}  // namespace hlwq::ui
