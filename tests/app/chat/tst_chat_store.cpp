// ChatStore: schema and migrations, CRUD, search, crash recovery, export.
#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>

#include "chat_store.h"
#include "core/error.h"

using hlwq::app::ChatStore;
using hlwq::app::StoredMessage;

namespace {
// Opens a second, independent connection, as another process would.
struct RawDb {
  QString name = QStringLiteral("raw");
  QSqlDatabase db;
  explicit RawDb(const QString& path) {
    db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
    db.setDatabaseName(path);
    db.open();
  }
  QVariant scalar(const QString& sql) {
    QSqlQuery q(db);
    if (!q.exec(sql) || !q.next()) return {};
    return q.value(0);
  }
  ~RawDb() {
    db.close();
    db = QSqlDatabase();
    QSqlDatabase::removeDatabase(name);
  }
};
}  // namespace

class TestChatStore : public QObject {
  Q_OBJECT
 private slots:
  void freshDatabaseHasLatestSchema() {
    QTemporaryDir dir;
    const QString path = dir.filePath("sub/dir/chats.sqlite3");  // parents are created
    { ChatStore store(path); QCOMPARE(store.schemaVersion(), ChatStore::kSchemaVersion); }
    RawDb raw(path);
    QCOMPARE(raw.scalar("PRAGMA user_version").toInt(), 2);
    QCOMPARE(raw.scalar("SELECT count(*) FROM pragma_table_info('messages') WHERE name='tokens_per_s'").toInt(), 1);
  }

  void migratesVersion1Database() {
    QTemporaryDir dir;
    const QString path = dir.filePath("old.sqlite3");
    {
      RawDb raw(path);
      QSqlQuery q(raw.db);
      // The version-1 schema, written out here as a shipped database would have it.
      QVERIFY(q.exec("CREATE TABLE chats(id INTEGER PRIMARY KEY, title TEXT NOT NULL, system_prompt TEXT NOT NULL DEFAULT '',"
                     " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL)"));
      QVERIFY(q.exec("CREATE TABLE messages(id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL, role TEXT NOT NULL,"
                     " content TEXT NOT NULL DEFAULT '', thinking TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'done',"
                     " created_ms INTEGER NOT NULL)"));
      QVERIFY(q.exec("CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL)"));
      QVERIFY(q.exec("INSERT INTO chats VALUES(1, 'old chat', '', 1, 1)"));
      QVERIFY(q.exec("INSERT INTO messages(chat_id, role, content, created_ms) VALUES(1, 'user', 'hello from v1', 1)"));
      QVERIFY(q.exec("PRAGMA user_version=1"));
    }
    ChatStore store(path);
    QCOMPARE(store.schemaVersion(), 2);
    const auto msgs = store.messages(1);
    QCOMPARE(msgs.size(), 1);
    QCOMPARE(msgs[0].content, QStringLiteral("hello from v1"));
    QCOMPARE(msgs[0].tokens, 0);
  }

  void refusesNewerSchema() {
    QTemporaryDir dir;
    const QString path = dir.filePath("future.sqlite3");
    { RawDb raw(path); QSqlQuery q(raw.db); QVERIFY(q.exec("PRAGMA user_version=99")); }
    try {
      ChatStore store(path);
      QFAIL("opened a database from the future");
    } catch (const hlwq::Error& e) {
      QCOMPARE(e.kind(), hlwq::ErrorKind::CorruptFile);
      QVERIFY(QString(e.what()).contains("99"));
    }
  }

  void unopenablePathIsAnIoError() {
    try {
      ChatStore store("/proc/definitely/not/writable/chats.sqlite3");
      QFAIL("opened an impossible path");
    } catch (const hlwq::Error& e) {
      QCOMPARE(e.kind(), hlwq::ErrorKind::Io);
    }
  }

  void chatsCrudAndSearch() {
    ChatStore store(":memory:");
    const qint64 a = store.createChat("Rust lifetimes");
    const qint64 b = store.createChat("Pasta recipes", "You are a chef.");
    store.addMessage({0, b, "user", "How long to boil penne?", {}, "done"});
    QThread::msleep(3);  // updated_ms has millisecond resolution
    store.addMessage({0, a, "user", "Explain borrowck 100% please", {}, "done"});
    QCOMPARE(store.chats().size(), 2);
    QCOMPARE(store.chats().first().id, a);  // a got the newest message
    QCOMPARE(store.chats("pasta").size(), 1);
    QCOMPARE(store.chats("penne").first().id, b);       // message text matches too
    QCOMPARE(store.chats("100%").first().id, a);        // LIKE wildcards are literal
    QCOMPARE(store.chats("0%p").size(), 0);
    store.renameChat(a, "Borrow checker");
    QCOMPARE(store.chat(a).title, QStringLiteral("Borrow checker"));
    QCOMPARE(store.chat(b).system_prompt, QStringLiteral("You are a chef."));
    store.deleteChat(b);
    QCOMPARE(store.chats().size(), 1);
    QCOMPARE(store.messages(b).size(), 0);  // cascade
  }

  void messagesKeepThinkingAndStats() {
    ChatStore store(":memory:");
    const qint64 c = store.createChat("t");
    StoredMessage m{0, c, "assistant", "answer", "thoughts", "done", 42, 17.5, 0.25, "q3"};
    m.id = store.addMessage(m);
    const auto back = store.messages(c).first();
    QCOMPARE(back.thinking, QStringLiteral("thoughts"));
    QCOMPARE(back.tokens, 42);
    QCOMPARE(back.tokens_per_s, 17.5);
    QCOMPARE(back.ttft_s, 0.25);
    QCOMPARE(back.kv_mode, QStringLiteral("q3"));
    store.deleteMessagesFrom(c, m.id);
    QVERIFY(store.messages(c).isEmpty());
  }

  void streamingReplyBecomesInterruptedOnReopen() {
    QTemporaryDir dir;
    const QString path = dir.filePath("c.sqlite3");
    qint64 chat = 0;
    {
      ChatStore store(path);
      chat = store.createChat("t");
      store.addMessage({0, chat, "assistant", "partial ans", "", "streaming"});
    }
    ChatStore again(path);
    const auto m = again.messages(chat).first();
    QCOMPARE(m.state, QStringLiteral("interrupted"));
    QCOMPARE(m.content, QStringLiteral("partial ans"));
  }

  void settingsRoundTrip() {
    ChatStore store(":memory:");
    QCOMPARE(store.setting("kv_mode", "fp16"), QStringLiteral("fp16"));
    store.setSetting("kv_mode", "q4");
    store.setSetting("kv_mode", "q3");
    QCOMPARE(store.setting("kv_mode"), QStringLiteral("q3"));
  }

  void exportsMarkdownAndJson() {
    ChatStore store(":memory:");
    const qint64 c = store.createChat("Export me", "Be brief.");
    store.addMessage({0, c, "user", "hi", {}, "done"});
    store.addMessage({0, c, "assistant", "hello **there**", "user greets", "done", 3, 10.0, 0.5, "fp16"});
    const QString md = store.exportMarkdown(c);
    QVERIFY(md.startsWith("# Export me\n"));
    QVERIFY(md.contains("Be brief."));
    QVERIFY(md.contains("## You\n\nhi"));
    QVERIFY(md.contains("hello **there**"));
    QVERIFY(md.contains("<summary>Thinking</summary>"));
    const QJsonObject j = QJsonDocument::fromJson(QJsonDocument(store.exportJson(c)).toJson()).object();
    QCOMPARE(j["title"].toString(), QStringLiteral("Export me"));
    const QJsonArray msgs = j["messages"].toArray();
    QCOMPARE(msgs.size(), 2);
    QCOMPARE(msgs[1].toObject()["reasoning"].toString(), QStringLiteral("user greets"));
    QCOMPARE(msgs[1].toObject()["stats"].toObject()["tokens"].toInt(), 3);
  }
};

QTEST_GUILESS_MAIN(TestChatStore)
#include "tst_chat_store.moc"
