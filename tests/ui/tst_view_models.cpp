// The view models and controllers, driven through AppController with the fake engine.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "app_controller.h"
#include "fake_session.h"
#include "markdown_blocks.h"
#if HLWQ_UI_HAVE_PLANNER
#include "fit_controller.h"
#endif
#if HLWQ_UI_HAVE_HUB
#include "hub_controller.h"
#endif

using namespace hlwq;
using namespace hlwq::ui;

namespace {
std::unique_ptr<AppController> make_app(int token_ms = 2, const QString& db = ":memory:", bool gpu = false) {
  app::FakeSession::Options o;
  o.gpu = gpu;
  o.token_delay = std::chrono::milliseconds(token_ms);
  o.load_time = std::chrono::milliseconds(10);
  return std::make_unique<AppController>(AppController::Config{std::make_shared<app::FakeSession>(o), db, false});
}

void load_model(AppController& app) {
  app.models()->load("/models/demo-27b");
  QTRY_VERIFY(app.models()->loaded());
}

QString role_at(AppController& app, int row) { return app.messages()->get(row).value("role").toString(); }
QString content_at(AppController& app, int row) { return app.messages()->get(row).value("content").toString(); }
}  // namespace

class TestViewModels : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { qputenv("HLWQ_MODELS_DIR", QByteArray("/nonexistent")); }

  void sendRefusedWithoutModel() {
    auto app = make_app();
    QVERIFY(!app->chat()->send("hi"));
    QVERIFY(app->chat()->lastError().contains("model", Qt::CaseInsensitive));
    QCOMPARE(app->messages()->rowCount(), 0);
  }

  void sendStreamsAndPersists() {
    auto app = make_app();
    load_model(*app);
    QSignalSpy busy(app->chat(), &ChatController::busyChanged);
    QSignalSpy changed(app->messages(), &QAbstractItemModel::dataChanged);
    QVERIFY(app->chat()->send("What is HLWQ?"));
    QVERIFY(app->chat()->busy());
    QCOMPARE(app->messages()->rowCount(), 2);
    QCOMPARE(role_at(*app, 0), QStringLiteral("user"));
    QCOMPARE(app->messages()->get(1).value("state").toString(), QStringLiteral("streaming"));
    QTRY_VERIFY(!app->chat()->busy());
    QVERIFY(changed.size() >= 2);  // streamed in pieces (coalesced to one repaint per 50 ms), not in one go
    const QVariantMap reply = app->messages()->get(1);
    QCOMPARE(reply.value("content").toString().toStdString(), app::FakeSession::answer_for("What is HLWQ?"));
    QVERIFY(!reply.value("thinking").toString().isEmpty());
    QCOMPARE(reply.value("state").toString(), QStringLiteral("done"));
    QVERIFY(reply.value("tokens").toInt() > 0);
    QVERIFY(reply.value("tokensPerSecond").toDouble() > 0);
    QVERIFY(reply.value("ttft").toDouble() > 0);
    // In the database as shown, and the chat is named after the first message.
    const auto stored = app->store()->messages(app->chat()->currentChatId());
    QCOMPARE(stored.size(), 2);
    QCOMPARE(stored[1].content, reply.value("content").toString());
    QCOMPARE(stored[1].thinking, reply.value("thinking").toString());
    QCOMPARE(app->chat()->currentTitle(), QStringLiteral("What is HLWQ?"));
    QCOMPARE(app->conversations()->rowCount(), 1);
  }

  void thinkingOffSendsNoThinking() {
    auto app = make_app();
    load_model(*app);
    app->chat()->setThinkingEnabled(false);
    QVERIFY(app->chat()->send("quick"));
    QTRY_VERIFY(!app->chat()->busy());
    QVERIFY(app->messages()->get(1).value("thinking").toString().isEmpty());
  }

  void stopKeepsPartialReply() {
    auto app = make_app(30);
    load_model(*app);
    QVERIFY(app->chat()->send("tell me a long story"));
    QTRY_VERIFY(!app->messages()->get(1).value("thinking").toString().isEmpty());
    app->chat()->stop();
    QTRY_VERIFY_WITH_TIMEOUT(!app->chat()->busy(), 1000);
    QCOMPARE(app->messages()->get(1).value("state").toString(), QStringLiteral("cancelled"));
    const auto stored = app->store()->messages(app->chat()->currentChatId());
    QCOMPARE(stored[1].state, QStringLiteral("cancelled"));
    QCOMPARE(stored[1].thinking, app->messages()->get(1).value("thinking").toString());
  }

  void regenerateReplacesLastReply() {
    auto app = make_app();
    load_model(*app);
    QVERIFY(app->chat()->send("first"));
    QTRY_VERIFY(!app->chat()->busy());
    QSignalSpy started(app->chat(), &ChatController::replyStarted);
    QVERIFY(app->chat()->regenerate());
    QCOMPARE(started.size(), 1);
    QCOMPARE(app->messages()->rowCount(), 2);
    QCOMPARE(app->messages()->get(1).value("state").toString(), QStringLiteral("streaming"));
    QTRY_VERIFY(!app->chat()->busy());
    QCOMPARE(app->messages()->get(1).value("state").toString(), QStringLiteral("done"));
    QCOMPARE(app->store()->messages(app->chat()->currentChatId()).size(), 2);
  }

  void editAndResendDropsLaterTurns() {
    auto app = make_app();
    load_model(*app);
    QVERIFY(app->chat()->send("one"));
    QTRY_VERIFY(!app->chat()->busy());
    QVERIFY(app->chat()->send("two"));
    QTRY_VERIFY(!app->chat()->busy());
    QCOMPARE(app->messages()->rowCount(), 4);
    QVERIFY(!app->chat()->editAndResend(1, "not a user row"));
    QVERIFY(app->chat()->editAndResend(0, "uno"));
    QTRY_VERIFY(!app->chat()->busy());
    QCOMPARE(app->messages()->rowCount(), 2);
    QCOMPARE(content_at(*app, 0), QStringLiteral("uno"));
    QCOMPARE(content_at(*app, 1).toStdString(), app::FakeSession::answer_for("uno"));
    const auto stored = app->store()->messages(app->chat()->currentChatId());
    QCOMPARE(stored.size(), 2);
    QCOMPARE(stored[0].content, QStringLiteral("uno"));
  }

  void conversationsNewRenameDeleteSearch() {
    auto app = make_app();
    load_model(*app);
    const qint64 a = app->chat()->newChat();
    QVERIFY(app->chat()->send("about penguins"));
    QTRY_VERIFY(!app->chat()->busy());
    const qint64 b = app->chat()->newChat();
    QCOMPARE(app->messages()->rowCount(), 0);
    QCOMPARE(app->conversations()->rowCount(), 2);
    app->chat()->renameChat(b, "  Kept title  ");
    QCOMPARE(app->store()->chat(b).title, QStringLiteral("Kept title"));
    app->conversations()->setSearch("penguin");
    QCOMPARE(app->conversations()->rowCount(), 1);
    QCOMPARE(app->conversations()->idAt(0), a);
    app->conversations()->setSearch("");
    app->chat()->selectChat(a);
    QCOMPARE(app->messages()->rowCount(), 2);
    app->chat()->deleteChat(a);
    QCOMPARE(app->chat()->currentChatId(), 0);
    QCOMPARE(app->messages()->rowCount(), 0);
    QCOMPARE(app->conversations()->rowCount(), 1);
  }

  void systemPromptIsPerChat() {
    auto app = make_app();
    const qint64 a = app->chat()->newChat();
    app->chat()->setSystemPrompt("Be terse.");
    const qint64 b = app->chat()->newChat();
    QCOMPARE(app->chat()->systemPrompt(), QString());
    app->chat()->selectChat(a);
    QCOMPARE(app->chat()->systemPrompt(), QStringLiteral("Be terse."));
    Q_UNUSED(b);
  }

  void samplingSettingsPersist() {
    QTemporaryDir dir;
    const QString db = dir.filePath("s.sqlite3");
    {
      auto app = make_app(2, db);
      app->chat()->setTemperature(0.2);
      app->chat()->setTopK(5);
      app->chat()->setTopP(3.0);  // clamped
      app->chat()->setThinkingEnabled(false);
    }
    auto app = make_app(2, db);
    QCOMPARE(app->chat()->temperature(), 0.2);
    QCOMPARE(app->chat()->topK(), 5);
    QCOMPARE(app->chat()->topP(), 1.0);
    QVERIFY(!app->chat()->thinkingEnabled());
  }

  void kvToggleAppliesLiveWithRealRatio() {
    auto app = make_app();
    load_model(*app);
    QVERIFY(app->chat()->send("fill some context"));
    QTRY_VERIFY(!app->chat()->busy());
    app->stats()->refresh();
    QCOMPARE(app->stats()->kvMode(), QStringLiteral("fp16"));
    QCOMPARE(app->stats()->kvRatio(), 1.0);
    const int context = app->stats()->contextUsed();
    QVERIFY(context > 0);
    app->stats()->setKvMode("q3");
    QVERIFY(app->stats()->kvSwitching());
    QTRY_VERIFY(!app->stats()->kvSwitching());
    app->stats()->refresh();
    QCOMPARE(app->stats()->kvMode(), QStringLiteral("q3"));
    // Qwen3.5-27B geometry: 16 attention layers x 4 KV heads x 256 dims; Q3 stores 3-bit codes
    // plus one fp16 scale per head vector, FP16 stores 2 bytes per value (see issue 10).
    const double fp16_per_token = 16.0 * 2 * 4 * 256 * 2;
    const double q3_per_token = 16.0 * 2 * 4 * (256 * 3 / 8 + 2);
    QCOMPARE(app->stats()->kvUsedBytes(), q3_per_token * context);
    QCOMPARE(app->stats()->kvUsedFp16Bytes(), fp16_per_token * context);
    QVERIFY(qAbs(app->stats()->kvRatio() - fp16_per_token / q3_per_token) < 1e-9);
    // The conversation continues in the new mode, and the reply records it.
    QVERIFY(app->chat()->send("and more"));
    QTRY_VERIFY(!app->chat()->busy());
    QCOMPARE(app->messages()->get(3).value("kvMode").toString(), QStringLiteral("q3"));
    QCOMPARE(app->store()->setting("kv_mode"), QStringLiteral("q3"));
    QVERIFY(!app->stats()->kvHistory().isEmpty());
  }

  void liveStatsBreakdownSumsToEngineBytes() {
    auto app = make_app(2, ":memory:", true);
    load_model(*app);
    app->stats()->refresh();
    double sum = 0;
    for (const QVariant& v : app->stats()->breakdown()) sum += v.toMap().value("bytes").toDouble();
    QCOMPARE(sum, app->stats()->engineBytes());
    QVERIFY(app->stats()->deviceTotal() >= app->stats()->deviceUsed());
    QCOMPARE(app->stats()->deviceUsed(), app->stats()->engineBytes());  // nothing else on the fake card
    QCOMPARE(app->stats()->backend(), QStringLiteral("CUDA"));
  }

  void cpuBackendReportsNoDeviceMemory() {
    auto app = make_app();
    load_model(*app);
    app->stats()->refresh();
    QCOMPARE(app->stats()->deviceTotal(), 0.0);
    QVERIFY(app->stats()->engineBytes() > 0);
  }

  void modelsListedLoadedAndLabelled() {
    QTemporaryDir dir;
    QDir().mkpath(dir.filePath("tiny-model"));
    QFile cfg(dir.filePath("tiny-model/config.json"));
    QVERIFY(cfg.open(QIODevice::WriteOnly));
    cfg.write("{}");
    cfg.close();
    QDir().mkpath(dir.filePath("not-a-model"));
    qputenv("HLWQ_MODELS_DIR", dir.path().toUtf8());
    auto app = make_app();
    QCOMPARE(app->models()->installed().size(), 1);
    QCOMPARE(app->models()->installed()[0].toMap().value("name").toString(), QStringLiteral("tiny-model"));
    QVERIFY(app->models()->autoLoad());
    QVERIFY(app->models()->loading());
    QTRY_VERIFY(app->models()->loaded());
    QVERIFY(app->models()->backendLabel().startsWith("CPU"));
    QVERIFY(app->chat()->modelReady());
    QCOMPARE(app->store()->setting("last_model"), dir.filePath("tiny-model"));
    app->models()->unload();
    QTRY_VERIFY(!app->models()->loaded());
    QVERIFY(!app->chat()->modelReady());
    qputenv("HLWQ_MODELS_DIR", QByteArray("/nonexistent"));
  }

  void noModelOpensModelManager() {
    auto app = std::make_unique<AppController>(
        AppController::Config{std::make_shared<app::FakeSession>(), ":memory:", true});
    QCOMPARE(app->startPage(), QStringLiteral("models"));
  }

  void loadFailureShowsError() {
    auto app = make_app();
    app->models()->load("/models/missing");
    QTRY_VERIFY(!app->models()->loading());
    QVERIFY(!app->models()->loaded());
    QVERIFY(app->models()->error().contains("/models/missing"));
  }

  void markdownSplitsFencedCode() {
    const auto blocks = split_markdown("Intro **bold**\n\n```cpp\nint x;\n```\nafter\n~~~\nopen fence");
    QCOMPARE(blocks.size(), 4);
    QVERIFY(!blocks[0].code);
    QCOMPARE(blocks[0].text, QStringLiteral("Intro **bold**\n"));
    QVERIFY(blocks[1].code);
    QCOMPARE(blocks[1].language, QStringLiteral("cpp"));
    QCOMPARE(blocks[1].text, QStringLiteral("int x;"));
    QCOMPARE(blocks[2].text, QStringLiteral("after"));
    QVERIFY(blocks[3].code);  // still streaming: unclosed fence is code
    QCOMPARE(blocks[3].text, QStringLiteral("open fence"));
    QCOMPARE(split_markdown("no code").size(), 1);
    QCOMPARE(split_markdown("").size(), 0);
  }

#if HLWQ_UI_HAVE_PLANNER
  void fitPageAnswersFromThePlanner() {
    FitController fit;
    QVERIFY(!fit.gpuNames().isEmpty());
    fit.setModelPath(HLWQ_SOURCE_DIR "/tests/fixtures/qwen35/ratio27b-hlwq-q5");
    fit.setContextLength(4096);
    fit.evaluate();
    const QVariantMap r = fit.result();
    QVERIFY2(r.value("ok").toBool(), qPrintable(r.value("error").toString()));
    QCOMPARE(r.value("level").toString(), QStringLiteral("fits"));  // a tiny model on a 24 GB card
    QCOMPARE(r.value("perMode").toList().size(), 4);
    const QVariantList curves = r.value("curves").toList();
    QCOMPARE(curves.size(), 4);
    // The fixture (27B ratios): one full-attention layer, one KV head of 256 dims. Per token
    // FP16 K+V = 2 x 256 x 2 B = 1024 B; Q4 = 2 x (256 x 4 / 8 + 2) = 260 B (hlwq-format.md 5).
    auto at = [&](const QString& mode, double ctx) {
      for (const QVariant& c : curves)
        if (c.toMap().value("mode") == mode)
          for (const QVariant& p : c.toMap().value("points").toList())
            if (p.toMap().value("context").toDouble() == ctx) return p.toMap().value("bytes").toDouble();
      return -1.0;
    };
    const double diff = at("fp16", 4096) - at("q4", 4096);
    QVERIFY2(std::abs(diff - 4096.0 * (1024 - 260)) <= 2.0 * 1024 * 1024,  // arenas round to 2 MiB
             qPrintable(QString::number(diff)));
    QVERIFY(at("fp16", 4096) > at("fp16", 1024));
    fit.setModelPath("/nonexistent/model");
    fit.evaluate();
    QVERIFY(!fit.result().value("ok").toBool());
    QVERIFY(fit.result().value("error").toString().contains("/nonexistent/model"));
  }
#endif

#if HLWQ_UI_HAVE_HUB
  void catalogListsCuratedModelsOffline() {
    qputenv("HF_HUB_OFFLINE", "1");
    QTemporaryDir home;
    qputenv("HF_HOME", home.path().toUtf8());
    HubController hub;
    QVERIFY2(!hub.catalog().isEmpty(), qPrintable(hub.error()));
    for (const QVariant& v : hub.catalog()) {
      QVERIFY(!v.toMap().value("repo").toString().isEmpty());
      QVERIFY(v.toMap().value("repo").toString().contains('/'));
    }
    QVERIFY(!hub.download(-1));
    QVERIFY(!hub.download(int(hub.catalog().size())));
    // An entry the engine cannot load (e.g. a torchao pickle) is refused with the reason.
    for (int i = 0; i < hub.catalog().size(); ++i) {
      const QVariantMap e = hub.catalog()[i].toMap();
      if (e.value("loadable").toBool()) continue;
      QVERIFY(!hub.download(i));
      QVERIFY(hub.error().contains(e.value("title").toString()));
      QVERIFY(!hub.downloading());
      break;
    }
    hub.browse("qwen");  // search fails offline: the curated rows stay
    QTRY_VERIFY_WITH_TIMEOUT(!hub.browsing(), 20000);
    QVERIFY(!hub.catalog().isEmpty());
    qunsetenv("HF_HUB_OFFLINE");
    qunsetenv("HF_HOME");
  }
#endif

  void exportWritesFiles() {
    auto app = make_app();
    load_model(*app);
    QVERIFY(app->chat()->send("export this"));
    QTRY_VERIFY(!app->chat()->busy());
    QTemporaryDir dir;
    QVERIFY(app->chat()->exportToFile(QUrl::fromLocalFile(dir.filePath("c.json")).toString()));
    QVERIFY(app->chat()->exportToFile(dir.filePath("c.md")));
    QFile j(dir.filePath("c.json"));
    QVERIFY(j.open(QIODevice::ReadOnly));
    QVERIFY(j.readAll().contains("\"export this\""));
    QFile m(dir.filePath("c.md"));
    QVERIFY(m.open(QIODevice::ReadOnly));
    QVERIFY(m.readAll().startsWith("# export this"));
  }
};

QTEST_MAIN(TestViewModels)
#include "tst_view_models.moc"
