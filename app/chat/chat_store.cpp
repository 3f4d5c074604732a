#include "chat_store.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QSqlError>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QUuid>
#include <QVariant>

#include "core/error.h"

namespace hlwq::app {
namespace {
qint64 now_ms() { return QDateTime::currentMSecsSinceEpoch(); }

// A null QString binds as SQL NULL; the text columns are NOT NULL, so bind "" instead.
QString text(const QString& s) { return s.isNull() ? QStringLiteral("") : s; }

// Each entry moves the schema from version i to i+1. Never edit a shipped entry: add one.
const char* const kMigrations[] = {
    // 0 -> 1: chats, messages, settings.
    "CREATE TABLE chats(id INTEGER PRIMARY KEY, title TEXT NOT NULL, system_prompt TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,"
    " role TEXT NOT NULL, content TEXT NOT NULL DEFAULT '', thinking TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL DEFAULT 'done', created_ms INTEGER NOT NULL);"
    "CREATE INDEX messages_by_chat ON messages(chat_id, id);"
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 1 -> 2: per-message generation stats.
    "ALTER TABLE messages ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN tokens_per_s REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN ttft_s REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN kv_mode TEXT NOT NULL DEFAULT '';",
};
static_assert(std::size(kMigrations) == ChatStore::kSchemaVersion);

StoredMessage read_message(const QSqlQuery& q) {
  StoredMessage m;
  m.id = q.value(0).toLongLong();
  m.chat_id = q.value(1).toLongLong();
  m.role = q.value(2).toString();
  m.content = q.value(3).toString();
  m.thinking = q.value(4).toString();
  m.state = q.value(5).toString();
  m.created_ms = q.value(6).toLongLong();
  m.tokens = q.value(7).toInt();
  m.tokens_per_s = q.value(8).toDouble();
  m.ttft_s = q.value(9).toDouble();
  m.kv_mode = q.value(10).toString();
  return m;
}
constexpr auto kMessageColumns = "id, chat_id, role, content, thinking, state, created_ms, tokens, tokens_per_s, ttft_s, kv_mode";
}  // namespace

ChatStore::ChatStore(const QString& path) : connection_(QUuid::createUuid().toString()) {
  if (path != QLatin1String(":memory:")) {
    const QString dir = QFileInfo(path).absolutePath();
    if (!QDir().mkpath(dir)) throw_error(ErrorKind::Io, "cannot create the data directory ", dir.toStdString());
  }
  db_ = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection_);
  db_.setDatabaseName(path);
  if (!db_.open())
    throw_error(ErrorKind::Io, "cannot open the chat database ", path.toStdString(), ": ",
                db_.lastError().text().toStdString());
  // WAL: each committed chunk of a streaming reply survives a kill of the app.
  exec(QStringLiteral("PRAGMA journal_mode=WAL"));
  exec(QStringLiteral("PRAGMA synchronous=NORMAL"));
  exec(QStringLiteral("PRAGMA foreign_keys=ON"));
  migrate();
  // A reply still marked streaming was cut by a crash or a kill: keep it, say so.
  exec(QStringLiteral("UPDATE messages SET state='interrupted' WHERE state='streaming'"));
}

ChatStore::~ChatStore() {
  db_.close();
  db_ = QSqlDatabase();
  QSqlDatabase::removeDatabase(connection_);
}

QString ChatStore::defaultPath() {
  return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/chats.sqlite3");
}

void ChatStore::exec(const QString& sql) const {
  QSqlQuery q(db_);
  if (!q.exec(sql))
    throw_error(ErrorKind::Io, "chat database ", db_.databaseName().toStdString(), ": ", q.lastError().text().toStdString(),
                " in: ", sql.left(80).toStdString());
}

int ChatStore::schemaVersion() const {
  QSqlQuery q(db_);
  q.exec(QStringLiteral("PRAGMA user_version"));
  return q.next() ? q.value(0).toInt() : -1;
}

void ChatStore::migrate() {
  int version = schemaVersion();
  if (version > kSchemaVersion)
    throw_error(ErrorKind::CorruptFile, "chat database ", db_.databaseName().toStdString(), " has schema version ",
                std::to_string(version), ", newer than this app's ", std::to_string(kSchemaVersion));
  for (; version < kSchemaVersion; ++version) {
    db_.transaction();
    try {
      for (const QString& stmt : QString::fromLatin1(kMigrations[version]).split(';', Qt::SkipEmptyParts))
        if (!stmt.trimmed().isEmpty()) exec(stmt);
      exec(QStringLiteral("PRAGMA user_version=%1").arg(version + 1));
    } catch (...) {
      db_.rollback();
      throw;
    }
    db_.commit();
  }
}

QList<StoredChat> ChatStore::chats(const QString& search) const {
  QSqlQuery q(db_);
  // Search matches titles and message text, so "that chat about CUDA" is found either way.
  q.prepare(QStringLiteral(
      "SELECT id, title, system_prompt, created_ms, updated_ms FROM chats WHERE :s = '' OR title LIKE :p ESCAPE '\\'"
      " OR id IN (SELECT chat_id FROM messages WHERE content LIKE :p ESCAPE '\\') ORDER BY updated_ms DESC, id DESC"));
  QString escaped = search;
  escaped.replace('\\', QStringLiteral("\\\\")).replace('%', QStringLiteral("\\%")).replace('_', QStringLiteral("\\_"));
  q.bindValue(QStringLiteral(":s"), search);
  q.bindValue(QStringLiteral(":p"), QStringLiteral("%") + escaped + QStringLiteral("%"));
  q.exec();
  QList<StoredChat> out;
  while (q.next())
    out.push_back({q.value(0).toLongLong(), q.value(1).toString(), q.value(2).toString(), q.value(3).toLongLong(),
                   q.value(4).toLongLong()});
  return out;
}

StoredChat ChatStore::chat(qint64 id) const {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("SELECT id, title, system_prompt, created_ms, updated_ms FROM chats WHERE id=?"));
  q.addBindValue(id);
  q.exec();
  if (!q.next()) return {};
  return {q.value(0).toLongLong(), q.value(1).toString(), q.value(2).toString(), q.value(3).toLongLong(),
          q.value(4).toLongLong()};
}

qint64 ChatStore::createChat(const QString& title, const QString& system_prompt) {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("INSERT INTO chats(title, system_prompt, created_ms, updated_ms) VALUES(?,?,?,?)"));
  const qint64 t = now_ms();
  q.addBindValue(text(title));
  q.addBindValue(text(system_prompt));
  q.addBindValue(t);
  q.addBindValue(t);
  if (!q.exec()) throw_error(ErrorKind::Io, "chat database: cannot create a chat: ", q.lastError().text().toStdString());
  return q.lastInsertId().toLongLong();
}

void ChatStore::renameChat(qint64 id, const QString& title) {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("UPDATE chats SET title=? WHERE id=?"));
  q.addBindValue(text(title));
  q.addBindValue(id);
  q.exec();
}

void ChatStore::setSystemPrompt(qint64 id, const QString& prompt) {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("UPDATE chats SET system_prompt=? WHERE id=?"));
  q.addBindValue(text(prompt));
  q.addBindValue(id);
  q.exec();
}

void ChatStore::deleteChat(qint64 id) {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("DELETE FROM chats WHERE id=?"));
  q.addBindValue(id);
  q.exec();
}

void ChatStore::touchChat(qint64 id) {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("UPDATE chats SET updated_ms=? WHERE id=?"));
  q.addBindValue(now_ms());
  q.addBindValue(id);
  q.exec();
}

QList<StoredMessage> ChatStore::messages(qint64 chat_id) const {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("SELECT %1 FROM messages WHERE chat_id=? ORDER BY id").arg(QLatin1String(kMessageColumns)));
  q.addBindValue(chat_id);
  q.exec();
  QList<StoredMessage> out;
  while (q.next()) out.push_back(read_message(q));
  return out;
}

qint64 ChatStore::addMessage(const StoredMessage& m) {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("INSERT INTO messages(chat_id, role, content, thinking, state, created_ms, tokens, tokens_per_s,"
                           " ttft_s, kv_mode) VALUES(?,?,?,?,?,?,?,?,?,?)"));
  q.addBindValue(m.chat_id);
  q.addBindValue(text(m.role));
  q.addBindValue(text(m.content));
  q.addBindValue(text(m.thinking));
  q.addBindValue(m.state.isEmpty() ? QStringLiteral("done") : m.state);
  q.addBindValue(m.created_ms ? m.created_ms : now_ms());
  q.addBindValue(m.tokens);
  q.addBindValue(m.tokens_per_s);
  q.addBindValue(m.ttft_s);
  q.addBindValue(text(m.kv_mode));
  if (!q.exec())
    throw_error(ErrorKind::Io, "chat database: cannot add a message to chat ", std::to_string(m.chat_id), ": ",
                q.lastError().text().toStdString());
  touchChat(m.chat_id);
  return q.lastInsertId().toLongLong();
}

void ChatStore::updateMessage(const StoredMessage& m) {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("UPDATE messages SET content=?, thinking=?, state=?, tokens=?, tokens_per_s=?, ttft_s=?,"
                           " kv_mode=? WHERE id=?"));
  q.addBindValue(text(m.content));
  q.addBindValue(text(m.thinking));
  q.addBindValue(m.state);
  q.addBindValue(m.tokens);
  q.addBindValue(m.tokens_per_s);
  q.addBindValue(m.ttft_s);
  q.addBindValue(text(m.kv_mode));
  q.addBindValue(m.id);
  q.exec();
}

void ChatStore::deleteMessagesFrom(qint64 chat_id, qint64 first_id) {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("DELETE FROM messages WHERE chat_id=? AND id>=?"));
  q.addBindValue(chat_id);
  q.addBindValue(first_id);
  q.exec();
}

QString ChatStore::setting(const QString& key, const QString& fallback) const {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("SELECT value FROM settings WHERE key=?"));
  q.addBindValue(key);
  q.exec();
  return q.next() ? q.value(0).toString() : fallback;
}

void ChatStore::setSetting(const QString& key, const QString& value) {
  QSqlQuery q(db_);
  q.prepare(QStringLiteral("INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"));
  q.addBindValue(key);
  q.addBindValue(text(value));
  q.exec();
}

QString ChatStore::exportMarkdown(qint64 chat_id) const {
  const StoredChat c = chat(chat_id);
  QString md = QStringLiteral("# %1\n\n").arg(c.title);
  if (!c.system_prompt.isEmpty()) md += QStringLiteral("> **System:** %1\n\n").arg(c.system_prompt);
  for (const StoredMessage& m : messages(chat_id)) {
    md += m.role == QLatin1String("user") ? QStringLiteral("## You\n\n") : QStringLiteral("## Assistant\n\n");
    if (!m.thinking.isEmpty()) {
      md += QStringLiteral("<details><summary>Thinking</summary>\n\n%1\n\n</details>\n\n").arg(m.thinking.trimmed());
    }
    md += m.content.trimmed() + QStringLiteral("\n\n");
    if (m.role == QLatin1String("assistant") && m.tokens > 0)
      md += QStringLiteral("*%1 tokens, %2 tok/s, first token %3 s*\n\n")
                .arg(m.tokens)
                .arg(m.tokens_per_s, 0, 'f', 1)
                .arg(m.ttft_s, 0, 'f', 2);
  }
  return md;
}

QJsonObject ChatStore::exportJson(qint64 chat_id) const {
  const StoredChat c = chat(chat_id);
  QJsonArray msgs;
  for (const StoredMessage& m : messages(chat_id)) {
    QJsonObject o{{"role", m.role}, {"content", m.content}, {"state", m.state},
                  {"created", QDateTime::fromMSecsSinceEpoch(m.created_ms, Qt::UTC).toString(Qt::ISODateWithMs)}};
    if (!m.thinking.isEmpty()) o.insert("reasoning", m.thinking);
    if (m.role == QLatin1String("assistant"))
      o.insert("stats", QJsonObject{{"tokens", m.tokens}, {"tokens_per_s", m.tokens_per_s}, {"ttft_s", m.ttft_s},
                                    {"kv_mode", m.kv_mode}});
    msgs.append(o);
  }
  return QJsonObject{{"title", c.title}, {"system_prompt", c.system_prompt}, {"messages", msgs},
                     {"created", QDateTime::fromMSecsSinceEpoch(c.created_ms, Qt::UTC).toString(Qt::ISODateWithMs)}};
}

}  // namespace hlwq::app
