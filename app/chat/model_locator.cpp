#include "model_locator.h"

#include <QCoreApplication>
#include <QDir>
#include <QDirIterator>
#include <QFileInfo>
#include <QStandardPaths>

namespace hlwq::app {
namespace {
qint64 dir_bytes(const QString& dir) {
  qint64 total = 0;
  QDirIterator it(dir, QDir::Files | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
  while (it.hasNext()) {
    it.next();
    total += QFileInfo(it.filePath()).size();  // follows HF cache symlinks to the blobs
  }
  return total;
}

QString source_of(const QString& root) {
  if (root.endsWith(QLatin1String("/hlwq"))) return QStringLiteral("downloaded");
  if (root.contains(QLatin1String("huggingface"))) return QStringLiteral("hf-cache");
  if (root == ModelLocator::libraryDir()) return QStringLiteral("library");
  return QStringLiteral("bundled");
}
}  // namespace

QString ModelLocator::libraryDir() {
  return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/models");
}

QStringList ModelLocator::searchRoots() {
  const QString env = qEnvironmentVariable("HLWQ_MODELS_DIR");
  if (!env.isEmpty()) return env.split(':', Qt::SkipEmptyParts);
  const QString exe_dir = QCoreApplication::applicationDirPath();
  QStringList roots{
      QDir::cleanPath(exe_dir + QStringLiteral("/../share/hlwq/models")),  // installed
  };
#ifdef HLWQ_SOURCE_DIR
  roots << QStringLiteral(HLWQ_SOURCE_DIR "/resources/models");  // dev build, run from the build tree
#endif
  roots << libraryDir();
  QString home = qEnvironmentVariable("HF_HOME");
  if (home.isEmpty()) home = QDir::homePath() + QStringLiteral("/.cache/huggingface");
  QString hf = qEnvironmentVariable("HF_HUB_CACHE");
  if (hf.isEmpty()) hf = home + QStringLiteral("/hub");
  roots << hf;
  roots << home + QStringLiteral("/hlwq");  // models quantized while downloading (hub/quantizing_download.h)
  return roots;
}

bool ModelLocator::isModelDir(const QString& dir) { return QFileInfo::exists(dir + QStringLiteral("/config.json")); }

QList<LocalModel> ModelLocator::scan(const QStringList& roots) {
  QList<LocalModel> out;
  QStringList seen;
  auto add = [&](const QString& name, const QString& path, const QString& source) {
    const QString canonical = QFileInfo(path).canonicalFilePath();
    if (seen.contains(canonical)) return;
    seen << canonical;
    out.push_back({name, path, source, dir_bytes(path)});
  };
  for (const QString& root : roots) {
    const QString source = source_of(root);
    if (isModelDir(root)) add(QFileInfo(root).fileName(), root, source);
    for (const QFileInfo& entry : QDir(root).entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
      const QString dir = entry.absoluteFilePath();
      if (entry.fileName().startsWith(QLatin1String("models--"))) {
        // Hugging Face cache: models--org--name/snapshots/<rev>/; the newest snapshot wins.
        const QString repo = entry.fileName().mid(8).replace(QLatin1String("--"), QLatin1String("/"));
        const auto snaps = QDir(dir + QStringLiteral("/snapshots")).entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Time);
        for (const QFileInfo& snap : snaps)
          if (isModelDir(snap.absoluteFilePath())) {
            add(repo, snap.absoluteFilePath(), source);
            break;
          }
      } else if (isModelDir(dir)) {
        add(entry.fileName(), dir, source);
      }
    }
  }
  return out;
}

}  // namespace hlwq::app
