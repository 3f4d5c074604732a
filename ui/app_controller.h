#pragma once
// `App` in QML: the one object that owns the store, the engine thread and every view model.
// hlwq-chat installs the real one before loading QML; a QML test that loads the module alone
// gets a self-contained one (fake engine, in-memory database).
#include <QObject>
#include <QQmlEngine>
#include <memory>

#include "chat_controller.h"
#include "conversation_list_model.h"
#include "live_stats.h"
#include "message_list_model.h"
#include "models_controller.h"

namespace hlwq::ui {

class AppController : public QObject {
  Q_OBJECT
  QML_NAMED_ELEMENT(App)
  QML_SINGLETON
  Q_PROPERTY(hlwq::ui::ConversationListModel* conversations READ conversations CONSTANT)
  Q_PROPERTY(hlwq::ui::MessageListModel* messages READ messages CONSTANT)
  Q_PROPERTY(hlwq::ui::ChatController* chat READ chat CONSTANT)
  Q_PROPERTY(hlwq::ui::LiveStats* stats READ stats CONSTANT)
  Q_PROPERTY(hlwq::ui::ModelsController* models READ models CONSTANT)
  // The Fit page's planner bridge (FitController), null when built without hlwq_planner.
  Q_PROPERTY(QObject* fit READ fit CONSTANT)
  // The Models page's catalog and downloads (HubController), null without hlwq_hub.
  Q_PROPERTY(QObject* hub READ hub CONSTANT)
  Q_PROPERTY(QString startPage READ startPage NOTIFY startPageChanged)
  Q_PROPERTY(QString themeOverride READ themeOverride CONSTANT)
 public:
  struct Config {
    std::shared_ptr<Session> session;
    QString database;      // path, or ":memory:"
    bool auto_load = true; // load the last / bundled model on start
  };
  explicit AppController(Config config, QObject* parent = nullptr);
  ~AppController() override;

  static void install(AppController* app);  // before the QML engine loads Main.qml
  static AppController* create(QQmlEngine*, QJSEngine*);

  ConversationListModel* conversations() const { return conversations_; }
  MessageListModel* messages() const { return messages_; }
  ChatController* chat() const { return chat_; }
  LiveStats* stats() const { return stats_; }
  ModelsController* models() const { return models_; }
  QObject* fit() const { return fit_; }
  QObject* hub() const { return hub_; }
  app::EngineClient* engine() const { return engine_; }
  app::ChatStore* store() const { return store_.get(); }
  QString startPage() const { return start_page_; }
  QString themeOverride() const { return qEnvironmentVariable("HLWQ_THEME"); }  // "dark" / "light"

  Q_INVOKABLE void copyText(const QString& text) const;
  Q_INVOKABLE QString formatBytes(double bytes) const;

 signals:
  void startPageChanged();

 private:
  std::unique_ptr<app::ChatStore> store_;
  app::EngineClient* engine_;
  ConversationListModel* conversations_;
  MessageListModel* messages_;
  ChatController* chat_;
  LiveStats* stats_;
  ModelsController* models_;
  QObject* fit_ = nullptr;
  QObject* hub_ = nullptr;
  QString start_page_ = QStringLiteral("chat");
};

}  // namespace hlwq::ui
