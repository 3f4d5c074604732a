// End to end: the real hlwq-chat binary, offscreen, driven by --script. Its database is then
// read back through a separate SQLite connection, as a fresh process would see it.
#include <QDirIterator>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>
#include <csignal>

namespace {
struct Run {
  int code = -1;
  QString out;
};

class Sandbox {
 public:
  Sandbox() {
    QDir().mkpath(models() + "/demo-model");
    QFile cfg(models() + "/demo-model/config.json");
    cfg.open(QIODevice::WriteOnly);
    cfg.write("{}");
  }
  QString models() const { return dir_.filePath("models"); }
  QString db() const { return dir_.filePath("xdg/hlwq/hlwq-chat/chats.sqlite3"); }

  QProcessEnvironment env(const QString& models_dir) const {
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    e.insert("QT_QPA_PLATFORM", "offscreen");
    e.insert("XDG_DATA_HOME", dir_.filePath("xdg"));
    e.insert("HLWQ_MODELS_DIR", models_dir);
    return e;
  }

  QString writeScript(const QString& name, const QString& body) const {
    const QString path = dir_.filePath(name);
    QFile f(path);
    f.open(QIODevice::WriteOnly);
    f.write(body.toUtf8());
    return path;
  }

  Run run(const QStringList& args, const QString& models_dir, int timeout_ms = 120000) const {
    QProcess p;
    p.setProcessEnvironment(env(models_dir));
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(HLWQ_CHAT_EXE, args);
    p.waitForFinished(timeout_ms);
    Run r;
    r.out = QString::fromUtf8(p.readAll());
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    return r;
  }

 private:
  QTemporaryDir dir_;
};

// An independent reader of the app's database.
struct Db {
  QSqlDatabase db;
  QString name;
  explicit Db(const QString& path) : name(QStringLiteral("e2e-%1").arg(quintptr(this))) {
    db = QSqlDatabase::addDatabase("QSQLITE", name);
    db.setDatabaseName(path);
    db.open();
  }
  ~Db() {
    db.close();
    db = QSqlDatabase();
    QSqlDatabase::removeDatabase(name);
  }
  QVariant scalar(const QString& sql) {
    QSqlQuery q(db);
    if (!q.exec(sql) || !q.next()) return {};
    return q.value(0);
  }
};

QString bundledModel() {
  const QString env = qEnvironmentVariable("HLWQ_E2E_MODEL");
  if (!env.isEmpty()) return env;
  QDirIterator it(HLWQ_SOURCE_DIR "/resources/models", {"config.json"}, QDir::Files, QDirIterator::Subdirectories);
  if (it.hasNext()) return QFileInfo(it.next()).absolutePath();
  // Else the tiny random Qwen3.5 fixture (27B ratios, HLWQ-Q5): real engine, nonsense text.
  const QString fixture = HLWQ_SOURCE_DIR "/tests/fixtures/qwen35/ratio27b-hlwq-q5";
  return QFileInfo::exists(fixture + "/config.json") ? fixture : QString();
}
}  // namespace

class TestChatE2E : public QObject {
  Q_OBJECT
 private slots:
  void chatToggleKvQuitRestartFakeEngine() {
    Sandbox box;
    const QString s1 = box.writeScript("one.txt",
                                       "wait-model\nnew\nsend Hello there\nexpect-reply-nonempty\n"
                                       "kv q4\nsend And again in Q4\nexpect-reply-nonempty\nexpect-messages 4\nquit\n");
    Run r = box.run({"--fake-engine", "--script", s1}, box.models());
    QVERIFY2(r.code == 0, qPrintable(r.out));
    QVERIFY(r.out.contains("kv q4"));

    const QString s2 = box.writeScript("two.txt", "wait-model\nexpect-messages 4\nsend Third\nexpect-messages 6\nquit\n");
    r = box.run({"--fake-engine", "--script", s2}, box.models());
    QVERIFY2(r.code == 0, qPrintable(r.out));

    Db db(box.db());
    QCOMPARE(db.scalar("PRAGMA integrity_check").toString(), QStringLiteral("ok"));
    QCOMPARE(db.scalar("SELECT count(*) FROM chats").toInt(), 1);
    QCOMPARE(db.scalar("SELECT count(*) FROM messages").toInt(), 6);
    QCOMPARE(db.scalar("SELECT content FROM messages ORDER BY id LIMIT 1").toString(), QStringLiteral("Hello there"));
    QCOMPARE(db.scalar("SELECT count(*) FROM messages WHERE role='assistant' AND state='done' AND content<>''").toInt(), 3);
    QCOMPARE(db.scalar("SELECT kv_mode FROM messages WHERE role='assistant' ORDER BY id DESC LIMIT 1").toString(),
             QStringLiteral("q4"));
    QCOMPARE(db.scalar("SELECT value FROM settings WHERE key='kv_mode'").toString(), QStringLiteral("q4"));
  }

  // The first frame is start-up work: wait-model returns only after it, so a script's next
  // measurement (stall-reset / load / stall-report) does not include it. HLWQ_STALL_TRACE=0
  // prints every GUI-thread event, the first frame (Expose) among them, in order with the
  // script's own lines.
  void waitModelWaitsForTheFirstFrame() {
    Sandbox box;
    const QString s = box.writeScript("frame.txt", "wait-model\nstall-reset\nload " + box.models() +
                                                       "/demo-model\nstall-report load\nquit\n");
    qputenv("HLWQ_STALL_TRACE", "0");
    const Run r = box.run({"--fake-engine", "--script", s}, box.models());
    qunsetenv("HLWQ_STALL_TRACE");
    QVERIFY2(r.code == 0, qPrintable(r.out.right(3000)));
    const qsizetype expose = r.out.indexOf(QRegularExpression("stall-trace [0-9.]+ s: [0-9.]+ ms in \\S+ '.*' event Expose"));
    const qsizetype loaded = r.out.indexOf("model loaded=1");
    QVERIFY2(expose >= 0, "no Expose event in the trace");
    QVERIFY2(loaded >= 0, qPrintable(r.out.right(3000)));
    QVERIFY2(expose < loaded, "the first frame came after wait-model returned");
    QVERIFY(r.out.contains(QRegularExpression("stall load: worst [0-9.]+ ms over [0-9]+ ticks")));
  }

  void sigkillWhileStreamingKeepsPartialReply() {
    Sandbox box;
    const QString s = box.writeScript("kill.txt", "wait-model\nnew\nsend-nowait Write a long answer\nsleep 60000\n");
    QProcess p;
    QProcessEnvironment env = box.env(box.models());
    env.insert("HLWQ_FAKE_TOKEN_MS", "40");
    p.setProcessEnvironment(env);
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(HLWQ_CHAT_EXE, {"--fake-engine", "--script", s});
    QVERIFY(p.waitForStarted());
    // Wait until part of the answer (not only thinking) is in the database, then kill.
    QString out;
    QElapsedTimer clock;
    clock.start();
    static const QRegularExpression persisted("persisted ([1-9][0-9]*)");
    while (!persisted.match(out).hasMatch() && clock.elapsed() < 60000) {
      p.waitForReadyRead(200);
      out += QString::fromUtf8(p.readAll());
    }
    QVERIFY2(persisted.match(out).hasMatch(), qPrintable(out));
    ::kill(pid_t(p.processId()), SIGKILL);
    QVERIFY(p.waitForFinished(10000));
    QCOMPARE(p.exitStatus(), QProcess::CrashExit);

    QString partial;
    {
      Db db(box.db());
      QCOMPARE(db.scalar("PRAGMA integrity_check").toString(), QStringLiteral("ok"));
      QCOMPARE(db.scalar("SELECT role FROM messages ORDER BY id DESC LIMIT 1").toString(), QStringLiteral("assistant"));
      partial = db.scalar("SELECT content FROM messages ORDER BY id DESC LIMIT 1").toString();
      QVERIFY(!partial.isEmpty());
      // What was saved is a prefix of the whole answer the fake engine was writing.
      QVERIFY2(QStringLiteral("Here is a **short** answer to: Write a long answer").startsWith(partial.left(20)), qPrintable(partial));
    }
    // Restart: the app opens the database cleanly and marks the reply as interrupted.
    const QString s2 = box.writeScript("after.txt", "expect-messages 2\nquit\n");
    const Run r = box.run({"--fake-engine", "--no-autoload", "--script", s2}, box.models());
    QVERIFY2(r.code == 0, qPrintable(r.out));
    Db db(box.db());
    QCOMPARE(db.scalar("SELECT state FROM messages ORDER BY id DESC LIMIT 1").toString(), QStringLiteral("interrupted"));
    QCOMPARE(db.scalar("SELECT content FROM messages ORDER BY id DESC LIMIT 1").toString(), partial);
  }

  void realModelChatToggleKvRestart() {
    const QString model = bundledModel();
    if (model.isEmpty()) QSKIP("no bundled model in resources/models (or HLWQ_E2E_MODEL)");
    Sandbox box;
    const QString s1 = box.writeScript("real1.txt",
                                       "wait-model\nstall-reset\nload " + model + "\nstall-report load\nthinking off\nmax-tokens 24\nnew\nstall-reset\n"
                                       "send Say hello in five words.\n"
                                       "stall-report generate\nexpect-reply-nonempty\nkv q4\nsend Now say goodbye.\n"
                                       "expect-reply-nonempty\nexpect-messages 4\nquit\n");
    Run r = box.run({"--script", s1}, model, 590000);
    if (r.out.contains("built without the engine")) QSKIP("hlwq-chat was built without hlwq_session");
    QVERIFY2(r.code == 0, qPrintable(r.out));
    qInfo().noquote() << r.out;
    const QString s2 = box.writeScript("real2.txt", "wait-model\nexpect-messages 4\nquit\n");
    r = box.run({"--script", s2}, model, 590000);
    QVERIFY2(r.code == 0, qPrintable(r.out));
    Db db(box.db());
    QCOMPARE(db.scalar("SELECT count(*) FROM messages WHERE role='assistant' AND state='done'").toInt(), 2);
  }
};

QTEST_GUILESS_MAIN(TestChatE2E)
#include "tst_chat_e2e.moc"
