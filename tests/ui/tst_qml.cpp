#include <QQmlEngine>
#include <QQuickStyle>
#include <QtQml/qqmlextensionplugin.h>
#include <QtQuickTest/quicktest.h>

Q_IMPORT_QML_PLUGIN(HlwqChatPlugin)

class Setup : public QObject {
  Q_OBJECT
 public slots:
  void applicationAvailable() { QQuickStyle::setStyle(QStringLiteral("Basic")); }
  void qmlEngineAvailable(QQmlEngine* engine) { engine->addImportPath(QStringLiteral("qrc:/qt/qml")); }
};

QUICK_TEST_MAIN_WITH_SETUP(hlwq_ui, Setup)

#include "tst_qml.moc"
