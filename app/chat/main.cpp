// hlwq-chat: loads the QML UI. `--self-test` loads everything, shows the window once and exits 0,
// so CI and the installer tests can prove the app starts.
#include <QApplication>
#include <QCommandLineParser>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickWindow>
#include <QTimer>
#include <QtQml/qqmlextensionplugin.h>

#include "hlwq/version.h"

Q_IMPORT_QML_PLUGIN(HlwqChatPlugin)

int main(int argc, char* argv[]) {
  // QApplication (not QGuiApplication): Qt Charts' QML types need the widgets module.
  QApplication app(argc, argv);
  QApplication::setApplicationName("hlwq-chat");
  QApplication::setOrganizationName("hlwq");
  QApplication::setApplicationVersion(hlwq::kVersion);

  QCommandLineParser parser;
  parser.setApplicationDescription("HLWQ Chat: local chat with HLWQ-quantized models");
  parser.addHelpOption();
  parser.addVersionOption();
  QCommandLineOption self_test("self-test", "Load the UI, show the window once, and exit.");
  parser.addOption(self_test);
  parser.process(app);

  QQmlApplicationEngine engine;
  engine.addImportPath(QStringLiteral("qrc:/qt/qml"));
  QObject::connect(&engine, &QQmlApplicationEngine::objectCreationFailed, &app, [] { QCoreApplication::exit(1); },
                   Qt::QueuedConnection);
  engine.load(QUrl(QStringLiteral("qrc:/qt/qml/HlwqChat/Main.qml")));
  if (engine.rootObjects().isEmpty()) return 1;

  if (parser.isSet(self_test)) {
    auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
    if (!window) return 1;
    QObject::connect(window, &QQuickWindow::frameSwapped, &app, [] { QCoreApplication::exit(0); });
    QTimer::singleShot(10000, &app, [] {
      qCritical("self-test: the window never rendered a frame");
      QCoreApplication::exit(1);
    });
  }
  return app.exec();
}
