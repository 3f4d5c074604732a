#pragma once
// Where models live: the bundled default model (next to the installed executable or in the
// source tree for dev builds), the app's own models folder, and the Hugging Face cache.
#include <QList>
#include <QString>
#include <QStringList>

namespace hlwq::app {

struct LocalModel {
  QString name;     // folder name, or the Hub repo id for cache snapshots
  QString path;     // the model directory (holds config.json)
  QString source;   // "bundled", "library" or "hf-cache"
  qint64 bytes = 0; // total size of the files in the directory
};

class ModelLocator {
 public:
  // Folders searched for models, in order (existing or not). HLWQ_MODELS_DIR, when set,
  // replaces them all (tests, portable installs).
  static QStringList searchRoots();
  static QString libraryDir();  // <AppDataLocation>/models, where downloads go
  static QList<LocalModel> scan(const QStringList& roots = searchRoots());
  static bool isModelDir(const QString& dir);
};

}  // namespace hlwq::app
