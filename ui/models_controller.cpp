#include "models_controller.h"

#include <QFileInfo>
#include <QVariantMap>

#include "live_stats.h"
#include "model_locator.h"

namespace hlwq::ui {

ModelsController::ModelsController(app::EngineClient* engine, app::ChatStore* store, LiveStats* stats, QObject* parent)
    : QObject(parent), engine_(engine), store_(store), stats_(stats) {
  context_length_ = store_->setting(QStringLiteral("context_length"), QStringLiteral("8192")).toInt();
  backend_choice_ = store_->setting(QStringLiteral("backend"), QStringLiteral("auto"));
  connect(engine_, &app::EngineClient::loadProgress, this, [this](double f, const QString& stage) {
    progress_ = f;
    stage_ = stage;
    emit progressChanged();
  });
  connect(engine_, &app::EngineClient::loadFinished, this, [this](bool ok, const QString& error) {
    loading_ = false;
    loaded_ = ok;
    error_ = error;
    if (ok) {
      active_path_ = pending_path_;
      store_->setSetting(QStringLiteral("last_model"), active_path_);
    } else {
      active_path_.clear();
    }
    stats_->clearHistory();
    stats_->refresh();
    emit stateChanged();
    if (ok) emit modelLoaded();
  });
  connect(engine_, &app::EngineClient::unloaded, this, [this] {
    loaded_ = false;
    active_path_.clear();
    stats_->refresh();
    emit stateChanged();
  });
  refresh();
}

QString ModelsController::activeName() const {
  for (const QVariant& v : installed_)
    if (v.toMap().value("path").toString() == active_path_) return v.toMap().value("name").toString();
  return QFileInfo(active_path_).fileName();
}

QString ModelsController::backendLabel() const {
  if (!loaded_) return {};
  const QString backend = stats_->backend();
  // The CPU is named as such: users must not think they run on their GPU when they do not.
  if (backend.compare(QLatin1String("CPU"), Qt::CaseInsensitive) == 0)
    return stats_->device().isEmpty() ? tr("CPU") : tr("CPU · %1").arg(stats_->device());
  return stats_->device().isEmpty() ? backend : stats_->device();
}

void ModelsController::setContextLength(int n) {
  n = std::clamp(n, 512, 262144);
  if (n == context_length_) return;
  context_length_ = n;
  store_->setSetting(QStringLiteral("context_length"), QString::number(n));
  emit contextLengthChanged();
}

void ModelsController::setBackendChoice(const QString& b) {
  if (b == backend_choice_) return;
  backend_choice_ = b;
  store_->setSetting(QStringLiteral("backend"), b);
  emit backendChoiceChanged();
}

void ModelsController::refresh() {
  installed_.clear();
  for (const auto& m : app::ModelLocator::scan())
    installed_.push_back(QVariantMap{{"name", m.name}, {"path", m.path}, {"source", m.source}, {"bytes", double(m.bytes)}});
  emit installedChanged();
}

void ModelsController::load(const QString& path) {
  if (loading_ || path.isEmpty()) return;
  LoadOptions options;
  options.model = path.toStdString();
  options.context_length = context_length_;
  options.kv = LiveStats::parseKvMode(stats_->kvMode()).value_or(KvConfig{});
  options.backend = backend_choice_ == QLatin1String("cpu")    ? BackendKind::Cpu
                    : backend_choice_ == QLatin1String("cuda") ? BackendKind::Cuda
                                                                : BackendKind::Auto;
  pending_path_ = path;
  loading_ = true;
  loaded_ = false;
  error_.clear();
  progress_ = 0;
  stage_ = tr("starting");
  emit stateChanged();
  emit progressChanged();
  engine_->load(options);
}

void ModelsController::unload() {
  if (loading_) return;
  engine_->unload();
}

bool ModelsController::autoLoad() {
  const QString last = store_->setting(QStringLiteral("last_model"));
  if (!last.isEmpty() && app::ModelLocator::isModelDir(last)) {
    load(last);
    return true;
  }
  for (const QVariant& v : installed_)
    if (v.toMap().value("source").toString() == QLatin1String("bundled")) {
      load(v.toMap().value("path").toString());
      return true;
    }
  if (!installed_.isEmpty()) {
    load(installed_.first().toMap().value("path").toString());
    return true;
  }
  return false;
}

}  // namespace hlwq::ui
