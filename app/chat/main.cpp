// hlwq-chat: the desktop app. Builds the engine session (the real one, or --fake-engine),
// the AppController that owns the store and the engine thread, then loads the QML UI.
//   --self-test     load everything, render one frame, exit 0 (CI and installer tests)
//   --script FILE   drive the app from a script (chat_script.h), for tests and screenshots
#include <QApplication>
#include <QCommandLineParser>
#include <QFile>
#include <QIcon>
#include <QQmlApplicationEngine>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QTimer>
#include <QtQml/qqmlextensionplugin.h>
#include <cstdio>

#include "app_controller.h"
#include "chat_script.h"
#include "chat_store.h"
#include "core/error.h"
#include "event_trace.h"
#include "fake_session.h"
#include "hlwq/version.h"
#include "stall_meter.h"

Q_IMPORT_QML_PLUGIN(HlwqChatPlugin)
// Main.qml is loaded by URL (Qt 6.4 has no loadFromModule), which never imports the module,
// so its C++ types are registered here rather than by the plugin's import.
void qml_register_types_HlwqChat();

namespace {
std::shared_ptr<hlwq::Session> make_session(bool fake) {
  if (!fake) {
#if HLWQ_HAVE_SESSION
    return hlwq::make_engine_session();
#else
    qWarning("hlwq-chat was built without the engine (hlwq_session); using the fake engine");
#endif
  }
  hlwq::app::FakeSession::Options options;
  if (int ms = qEnvironmentVariableIntValue("HLWQ_FAKE_TOKEN_MS"); ms > 0) options.token_delay = std::chrono::milliseconds(ms);
  options.gpu = qEnvironmentVariableIntValue("HLWQ_FAKE_GPU") == 1;
  return std::make_shared<hlwq::app::FakeSession>(options);
}
}  // namespace

int main(int argc, char* argv[]) {
  // QApplication (not QGuiApplication): Qt Charts' QML types need the widgets module.
  // HLWQ_STALL_TRACE=MS names the slow GUI-thread events (event_trace.h).
  hlwq::app::TracingApplication app(argc, argv);
  QApplication::setApplicationName("hlwq-chat");
  QApplication::setOrganizationName("hlwq");
  QApplication::setApplicationVersion(hlwq::kVersion);
  QApplication::setWindowIcon(QIcon(QStringLiteral(":/qt/qml/HlwqChat/icon.svg")));
  QApplication::setDesktopFileName(QStringLiteral("hlwq-chat"));
  QQuickStyle::setStyle(QStringLiteral("Basic"));  // our own look, the same on every desktop

  QCommandLineParser parser;
  parser.setApplicationDescription("HLWQ Chat: local chat with HLWQ-quantized models");
  parser.addHelpOption();
  parser.addVersionOption();
  QCommandLineOption self_test("self-test", "Load the UI, show the window once, and exit.");
  QCommandLineOption fake_engine("fake-engine", "Use a made-up engine (UI work, screenshots).");
  QCommandLineOption script("script", "Drive the app from a script file.", "FILE");
  QCommandLineOption database("database", "Chat database (default: the app data directory).", "PATH");
  QCommandLineOption no_autoload("no-autoload", "Do not load the last or bundled model on start.");
  parser.addOptions({self_test, fake_engine, script, database, no_autoload});
  parser.process(app);

  QStringList script_lines;
  if (parser.isSet(script)) {
    QFile f(parser.value(script));
    if (!f.open(QIODevice::ReadOnly)) {
      std::fprintf(stderr, "hlwq-chat: cannot read the script %s\n", qPrintable(parser.value(script)));
      return 2;
    }
    script_lines = QString::fromUtf8(f.readAll()).split('\n');
  }

  // Started before the model loads, so the load's stalls are measured too.
  hlwq::app::StallMeter stall;
  std::unique_ptr<hlwq::ui::AppController> controller;
  try {
    hlwq::ui::AppController::Config config;
    config.session = make_session(parser.isSet(fake_engine));
    config.database = parser.isSet(database) ? parser.value(database) : hlwq::app::ChatStore::defaultPath();
    config.auto_load = !parser.isSet(no_autoload) && !parser.isSet(self_test);
    controller = std::make_unique<hlwq::ui::AppController>(std::move(config));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hlwq-chat: %s\n", e.what());
    return 1;
  }
  hlwq::ui::AppController::install(controller.get());

  qml_register_types_HlwqChat();
  QQmlApplicationEngine engine;
  engine.addImportPath(QStringLiteral("qrc:/qt/qml"));
  QObject::connect(&engine, &QQmlApplicationEngine::objectCreationFailed, &app, [] { QCoreApplication::exit(1); },
                   Qt::QueuedConnection);
  engine.load(QUrl(QStringLiteral("qrc:/qt/qml/HlwqChat/Main.qml")));
  if (engine.rootObjects().isEmpty()) return 1;
  auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
  if (!window) return 1;

  if (parser.isSet(self_test)) {
    QObject::connect(window, &QQuickWindow::frameSwapped, &app, [] { QCoreApplication::exit(0); });
    QTimer::singleShot(10000, &app, [] {
      qCritical("self-test: the window never rendered a frame");
      QCoreApplication::exit(1);
    });
  }
  std::unique_ptr<hlwq::app::ChatScript> runner;
  if (parser.isSet(script)) {
    runner = std::make_unique<hlwq::app::ChatScript>(script_lines, controller.get(), window, &stall);
    runner->start();
  }
  const int rc = app.exec();
  runner.reset();
  return rc;
}
