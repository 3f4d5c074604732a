#pragma once
// Installed models and the one loaded: list, load (on the engine thread, with progress),
// unload, and which backend it runs on. Remembers the last model and loads it on start.
#include <QObject>
#include <QVariantList>
#include <QtQml/qqmlregistration.h>

#include "chat_store.h"
#include "engine_client.h"

namespace hlwq::ui {

class LiveStats;

class ModelsController : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("owned by App")
  Q_PROPERTY(QVariantList installed READ installed NOTIFY installedChanged)  // [{name, path, source, bytes}]
  Q_PROPERTY(QString activePath READ activePath NOTIFY stateChanged)
  Q_PROPERTY(QString activeName READ activeName NOTIFY stateChanged)
  Q_PROPERTY(bool loaded READ loaded NOTIFY stateChanged)
  Q_PROPERTY(bool loading READ loading NOTIFY stateChanged)
  Q_PROPERTY(double progress READ progress NOTIFY progressChanged)
  Q_PROPERTY(QString stage READ stage NOTIFY progressChanged)
  Q_PROPERTY(QString backendLabel READ backendLabel NOTIFY stateChanged)
  Q_PROPERTY(QString error READ error NOTIFY stateChanged)
  Q_PROPERTY(int contextLength READ contextLength WRITE setContextLength NOTIFY contextLengthChanged)
  Q_PROPERTY(QString backendChoice READ backendChoice WRITE setBackendChoice NOTIFY backendChoiceChanged)
 public:
  ModelsController(app::EngineClient* engine, app::ChatStore* store, LiveStats* stats, QObject* parent = nullptr);

  QVariantList installed() const { return installed_; }
  QString activePath() const { return active_path_; }
  QString activeName() const;
  bool loaded() const { return loaded_; }
  bool loading() const { return loading_; }
  double progress() const { return progress_; }
  QString stage() const { return stage_; }
  QString backendLabel() const;
  QString error() const { return error_; }
  int contextLength() const { return context_length_; }
  void setContextLength(int n);
  QString backendChoice() const { return backend_choice_; }
  void setBackendChoice(const QString& b);

  Q_INVOKABLE void refresh();
  Q_INVOKABLE void load(const QString& path);
  Q_INVOKABLE void unload();
  // Loads the last used model, else the bundled default. Returns false when nothing is
  // installed, so the app opens the model manager instead.
  Q_INVOKABLE bool autoLoad();

 signals:
  void installedChanged();
  void stateChanged();
  void progressChanged();
  void contextLengthChanged();
  void backendChoiceChanged();
  void modelLoaded();

 private:
  app::EngineClient* engine_;
  app::ChatStore* store_;
  LiveStats* stats_;
  QVariantList installed_;
  QString active_path_;
  QString pending_path_;
  bool loaded_ = false;
  bool loading_ = false;
  double progress_ = 0;
  QString stage_;
  QString error_;
  int context_length_ = 8192;
  QString backend_choice_ = QStringLiteral("auto");
};

}  // namespace hlwq::ui
