#include <QProcess>
#include <QtTest>

#include "hlwq/version.h"

class AppSmoke : public QObject {
  Q_OBJECT
 private slots:
  void versionIsSemver() {
    const QString v = QString::fromLatin1(hlwq::kVersion);
    QVERIFY2(QRegularExpression("^\\d+\\.\\d+\\.\\d+$").match(v).hasMatch(), qPrintable(v));
  }
};

QTEST_GUILESS_MAIN(AppSmoke)
#include "tst_app_smoke.moc"
