// The worker-thread protocol: every Session call runs on the engine thread, results come back
// as queued signals to the GUI thread, cancel is immediate (also for a queued request).
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QtTest>

#include "engine_client.h"
#include "fake_session.h"

using namespace hlwq;
using namespace hlwq::app;

namespace {
std::vector<ChatMessage> ask(const std::string& text) { return {{"user", text, {}, nullptr, {}}}; }

// Records which thread each Session call ran on.
class ThreadRecordingSession : public FakeSession {
 public:
  using FakeSession::FakeSession;
  void load(const LoadOptions& o, const ProgressFn& p) override {
    load_thread = QThread::currentThread();
    FakeSession::load(o, p);
  }
  ChatResult chat(const std::vector<ChatMessage>& m, const GenerationOptions& o, const StreamFn& f) override {
    chat_thread = QThread::currentThread();
    return FakeSession::chat(m, o, f);
  }
  std::atomic<QThread*> load_thread{nullptr};
  std::atomic<QThread*> chat_thread{nullptr};
};

FakeSession::Options slow(int token_ms) {
  FakeSession::Options o;
  o.token_delay = std::chrono::milliseconds(token_ms);
  o.load_time = std::chrono::milliseconds(50);
  return o;
}
}  // namespace

class TestEngineClient : public QObject {
  Q_OBJECT
 private slots:
  void loadRunsOnWorkerAndReportsProgress() {
    auto session = std::make_shared<ThreadRecordingSession>(slow(1));
    EngineClient client(session);
    QSignalSpy progress(&client, &EngineClient::loadProgress);
    QSignalSpy done(&client, &EngineClient::loadFinished);
    client.load({"/models/demo"});
    QTRY_COMPARE(done.size(), 1);
    QVERIFY(done[0][0].toBool());
    QVERIFY(progress.size() >= 2);
    QCOMPARE(progress.last()[0].toDouble(), 1.0);
    QVERIFY(session->load_thread != nullptr);
    QVERIFY(session->load_thread != QThread::currentThread());
    QCOMPARE(session->load_thread.load(), client.thread_for_tests());
  }

  void loadErrorCarriesKindAndPath() {
    EngineClient client(std::make_shared<FakeSession>(slow(1)));
    QSignalSpy done(&client, &EngineClient::loadFinished);
    client.load({"/models/missing"});
    QTRY_COMPARE(done.size(), 1);
    QVERIFY(!done[0][0].toBool());
    const QString error = done[0][1].toString();
    QVERIFY2(error.contains("/models/missing"), qPrintable(error));
  }

  void streamsThinkingThenAnswerToGuiThread() {
    auto session = std::make_shared<ThreadRecordingSession>(slow(1));
    EngineClient client(session);
    QSignalSpy loaded(&client, &EngineClient::loadFinished);
    client.load({"/models/demo"});
    QTRY_COMPARE(loaded.size(), 1);

    QString thinking, answer;
    bool answer_started = false, thinking_after_answer = false, all_on_gui = true;
    connect(&client, &EngineClient::streamed, this, [&](quint64, bool is_thinking, const QString& t) {
      all_on_gui = all_on_gui && QThread::currentThread() == thread();
      if (is_thinking) {
        thinking += t;
        thinking_after_answer = thinking_after_answer || answer_started;
      } else {
        answer += t;
        answer_started = true;
      }
    });
    QSignalSpy finished(&client, &EngineClient::chatFinished);
    const quint64 id = client.chat(ask("hello"), {});
    QTRY_COMPARE(finished.size(), 1);
    const auto outcome = finished[0][0].value<ChatOutcome>();
    QCOMPARE(outcome.id, id);
    QCOMPARE(outcome.stop_reason, QStringLiteral("stop"));
    QVERIFY(all_on_gui);
    QVERIFY(!thinking_after_answer);
    QCOMPARE(answer.toStdString(), FakeSession::answer_for("hello"));
    QCOMPARE(outcome.answer, answer);
    QVERIFY(FakeSession::thinking_for("hello").rfind(thinking.toStdString(), 0) == 0);
    QVERIFY(session->chat_thread.load() == client.thread_for_tests());
    QVERIFY(outcome.stats.generated_tokens > 0);
  }

  void cancelStopsWithinOneToken() {
    EngineClient client(std::make_shared<FakeSession>(slow(40)));
    QSignalSpy loaded(&client, &EngineClient::loadFinished);
    client.load({"/models/demo"});
    QTRY_COMPARE(loaded.size(), 1);
    QSignalSpy streamed(&client, &EngineClient::streamed);
    QSignalSpy finished(&client, &EngineClient::chatFinished);
    client.chat(ask("a long question"), {});
    QTRY_VERIFY(streamed.size() >= 2);
    QElapsedTimer clock;
    clock.start();
    client.cancel();
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 2000);
    // One token takes 40 ms; allow scheduling slack on a loaded 2-core CI machine.
    QVERIFY2(clock.elapsed() < 400, qPrintable(QString::number(clock.elapsed())));
    QCOMPARE(finished[0][0].value<ChatOutcome>().stop_reason, QStringLiteral("cancelled"));
  }

  void cancelDropsQueuedRequests() {
    EngineClient client(std::make_shared<FakeSession>(slow(20)));
    QSignalSpy loaded(&client, &EngineClient::loadFinished);
    client.load({"/models/demo"});
    QTRY_COMPARE(loaded.size(), 1);
    QSignalSpy finished(&client, &EngineClient::chatFinished);
    QSignalSpy streamed(&client, &EngineClient::streamed);
    client.chat(ask("one"), {});
    client.chat(ask("two"), {});  // queued behind the first
    client.cancel();
    QTRY_COMPARE(finished.size(), 2);
    QCOMPARE(finished[0][0].value<ChatOutcome>().stop_reason, QStringLiteral("cancelled"));
    QCOMPARE(finished[1][0].value<ChatOutcome>().stop_reason, QStringLiteral("cancelled"));
    QVERIFY(streamed.size() <= 1);
    // And the next request runs normally.
    client.chat(ask("three"), {});
    QTRY_COMPARE(finished.size(), 3);
    QCOMPARE(finished[2][0].value<ChatOutcome>().stop_reason, QStringLiteral("stop"));
  }

  void setKvAppliesAndRejectsBadModes() {
    auto session = std::make_shared<FakeSession>(slow(1));
    EngineClient client(session);
    QSignalSpy loaded(&client, &EngineClient::loadFinished);
    client.load({"/models/demo"});
    QTRY_COMPARE(loaded.size(), 1);
    QSignalSpy kv(&client, &EngineClient::kvChanged);
    client.setKv(KvConfig::uniform(3));
    QTRY_COMPARE(kv.size(), 1);
    QVERIFY(kv[0][0].toBool());
    QCOMPARE(client.stats().kv, KvConfig::uniform(3));
    client.setKv(KvConfig::uniform(7));
    QTRY_COMPARE(kv.size(), 2);
    QVERIFY(!kv[1][0].toBool());
    QVERIFY(kv[1][1].toString().contains("7"));
  }

  void chatErrorIsReportedNotThrown() {
    EngineClient client(std::make_shared<FakeSession>(slow(1)));
    QSignalSpy finished(&client, &EngineClient::chatFinished);
    client.chat(ask("before load"), {});
    QTRY_COMPARE(finished.size(), 1);
    const auto o = finished[0][0].value<ChatOutcome>();
    QCOMPARE(o.stop_reason, QStringLiteral("error"));
    QVERIFY(o.error.contains("InvalidArgument") || o.error.contains("load"));
  }

  void destructionDuringGenerationIsPrompt() {
    QElapsedTimer clock;
    {
      EngineClient client(std::make_shared<FakeSession>(slow(50)));
      QSignalSpy loaded(&client, &EngineClient::loadFinished);
      client.load({"/models/demo"});
      QTRY_COMPARE(loaded.size(), 1);
      QSignalSpy streamed(&client, &EngineClient::streamed);
      client.chat(ask("x"), {});
      QTRY_VERIFY(streamed.size() >= 1);
      clock.start();
    }
    QVERIFY(clock.elapsed() < 500);
  }
};

QTEST_GUILESS_MAIN(TestEngineClient)
#include "tst_engine_client.moc"
