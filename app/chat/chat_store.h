#pragma once
// Chats, messages (with thinking and stats) and settings in SQLite, under the app's XDG data
// directory. The schema is versioned (PRAGMA user_version) and migrated forward on open.
// A reply is written while it streams, so a crash or a kill keeps what had arrived.
#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QSqlDatabase>
#include <QString>

namespace hlwq::app {

struct StoredChat {
  qint64 id = 0;
  QString title;
  QString system_prompt;
  qint64 created_ms = 0;
  qint64 updated_ms = 0;
};

struct StoredMessage {
  qint64 id = 0;
  qint64 chat_id = 0;
  QString role;          // user | assistant | system
  QString content;
  QString thinking;
  QString state;         // done | streaming | interrupted | cancelled | error
  int tokens = 0;
  double tokens_per_s = 0;
  double ttft_s = 0;
  QString kv_mode;       // KV mode the reply was generated with
  qint64 created_ms = 0;
};

class ChatStore {
 public:
  static constexpr int kSchemaVersion = 2;

  // Opens (creating and migrating) the database at path; ":memory:" for tests.
  // Throws hlwq::Error{Io} naming the file when it cannot.
  explicit ChatStore(const QString& path);
  ~ChatStore();
  ChatStore(const ChatStore&) = delete;
  ChatStore& operator=(const ChatStore&) = delete;

  static QString defaultPath();  // <AppDataLocation>/chats.sqlite3
  int schemaVersion() const;

  QList<StoredChat> chats(const QString& search = {}) const;  // newest first
  StoredChat chat(qint64 id) const;
  qint64 createChat(const QString& title, const QString& system_prompt = {});
  void renameChat(qint64 id, const QString& title);
  void setSystemPrompt(qint64 id, const QString& prompt);
  void deleteChat(qint64 id);
  void touchChat(qint64 id);

  QList<StoredMessage> messages(qint64 chat_id) const;
  qint64 addMessage(const StoredMessage& m);
  void updateMessage(const StoredMessage& m);  // content, thinking, state and stats
  void deleteMessagesFrom(qint64 chat_id, qint64 first_id);  // that message and all after it

  QString setting(const QString& key, const QString& fallback = {}) const;
  void setSetting(const QString& key, const QString& value);

  QString exportMarkdown(qint64 chat_id) const;
  QJsonObject exportJson(qint64 chat_id) const;

 private:
  void migrate();
  void exec(const QString& sql) const;

  QString connection_;
  QSqlDatabase db_;
};

}  // namespace hlwq::app
