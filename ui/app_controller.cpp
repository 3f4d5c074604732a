#include "app_controller.h"

#include <QClipboard>
#include <QGuiApplication>
#include <QPointer>

#include "fake_session.h"
#if HLWQ_UI_HAVE_PLANNER
#include "fit_controller.h"
#endif
#if HLWQ_UI_HAVE_HUB
#include "hub_controller.h"
#endif

namespace hlwq::ui {
namespace {
QPointer<AppController> g_installed;
}

AppController::AppController(Config config, QObject* parent)
    : QObject(parent), store_(std::make_unique<app::ChatStore>(config.database)) {
  engine_ = new app::EngineClient(std::move(config.session), this);
  conversations_ = new ConversationListModel(store_.get(), this);
  messages_ = new MessageListModel(this);
  stats_ = new LiveStats(engine_, store_.get(), this);
  models_ = new ModelsController(engine_, store_.get(), stats_, this);
  chat_ = new ChatController(store_.get(), engine_, conversations_, messages_, this);

  chat_->setKvModeName(stats_->kvMode());
  connect(stats_, &LiveStats::kvModeChanged, this, [this] { chat_->setKvModeName(stats_->kvMode()); });
  connect(models_, &ModelsController::stateChanged, this, [this] { chat_->setModelReady(models_->loaded()); });
  connect(engine_, &app::EngineClient::streamed, stats_, [this] { stats_->noteToken(); });
  connect(chat_, &ChatController::replyFinished, stats_, [this] { stats_->replyFinished(); });

  // Reopen the chat the user had open, or the newest.
  const qint64 last = store_->setting(QStringLiteral("last_chat")).toLongLong();
  if (last && conversations_->rowOf(last) >= 0) chat_->selectChat(last);
  else if (conversations_->rowCount() > 0) chat_->selectChat(conversations_->idAt(0));
  connect(chat_, &ChatController::currentChatChanged, this,
          [this] { store_->setSetting(QStringLiteral("last_chat"), QString::number(chat_->currentChatId())); });

#if HLWQ_UI_HAVE_PLANNER
  auto* fit = new FitController(this);
  fit_ = fit;
  // Plan for the card the engine runs on, once it reports one.
  connect(models_, &ModelsController::modelLoaded, fit, [this, fit] {
    stats_->refresh();
    if (stats_->backend().compare(QLatin1String("CPU"), Qt::CaseInsensitive) != 0)
      fit->setDetectedGpu(stats_->device(), stats_->deviceTotal(), stats_->deviceFree() + stats_->engineBytes());
    if (fit->modelPath().isEmpty()) fit->setModelPath(models_->activePath());
  });
#endif
#if HLWQ_UI_HAVE_HUB
  auto* hub = new HubController(this);
  hub_ = hub;
  connect(hub, &HubController::downloaded, models_, [this] { models_->refresh(); });
  connect(models_, &ModelsController::modelLoaded, hub, [this, hub] {
    if (stats_->backend().compare(QLatin1String("CPU"), Qt::CaseInsensitive) != 0)
      hub->setGpu(stats_->device(), stats_->deviceTotal(), stats_->deviceFree() + stats_->engineBytes());
  });
#endif

  if (config.auto_load && !models_->autoLoad()) start_page_ = QStringLiteral("models");
}

AppController::~AppController() {
  delete engine_;  // joins the engine thread before the store and models go
  engine_ = nullptr;
}

void AppController::install(AppController* app) { g_installed = app; }

AppController* AppController::create(QQmlEngine* engine, QJSEngine*) {
  if (g_installed) {
    QJSEngine::setObjectOwnership(g_installed, QJSEngine::CppOwnership);
    return g_installed;
  }
  app::FakeSession::Options fast;
  fast.token_delay = std::chrono::milliseconds(2);
  fast.load_time = std::chrono::milliseconds(20);
  auto* app = new AppController({std::make_shared<app::FakeSession>(fast), QStringLiteral(":memory:"), false}, engine);
  return app;
}

void AppController::copyText(const QString& text) const {
  if (auto* cb = QGuiApplication::clipboard()) cb->setText(text);
}

QString AppController::formatBytes(double bytes) const {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return QStringLiteral("%1 %2").arg(bytes, 0, 'f', u >= 3 ? 2 : (u == 0 ? 0 : 1)).arg(QLatin1String(units[u]));
}

}  // namespace hlwq::ui
