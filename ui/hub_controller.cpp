#include "hub_controller.h"

#include <QPointer>
#include <QVariantMap>

#include "core/error.h"
#include "hub/catalog.h"
#include "hub/downloader.h"
#include "hub/quantizing_download.h"
#if HLWQ_HUB_HAVE_PLANNER
#include "hub/catalog_fit.h"
#include "planner/gpu_table.h"
#endif

namespace hlwq::ui {
namespace {
QVariantMap row_to_variant(const hub::CatalogRow& row) {
  const auto& e = row.entry;
  return {{"id", QString::fromStdString(e.id)},
          {"title", QString::fromStdString(e.title)},
          {"repo", QString::fromStdString(e.repo)},
          {"revision", QString::fromStdString(e.revision)},
          {"format", QString::fromStdString(e.format)},
          {"quantizeBits", e.quantize_bits},
          {"downloadBytes", double(e.download_bytes)},
          {"diskBytes", double(e.disk_bytes)},
          {"license", QString::fromStdString(e.license)},
          {"gated", QString::fromStdString(e.gated)},
          {"notes", QString::fromStdString(e.notes)},
          {"loadable", e.loadable},
          {"curated", e.curated},
          {"files", [&] {
             QStringList f;
             for (const auto& g : e.files) f << QString::fromStdString(g);
             return f;
           }()},
          {"fit", QString::fromLatin1(hub::to_string(row.fit.verdict))},
          {"fitDetail", QString::fromStdString(row.fit.detail)},
          {"neededBytes", double(row.fit.needed_bytes)}};
}

QVariantMap progress_to_variant(const hub::DownloadProgress& p) {
  QVariantList files;
  for (const auto& f : p.files)
    files << QVariantMap{{"path", QString::fromStdString(f.path)}, {"done", double(f.bytes_done)},
                         {"total", double(f.bytes_total)}, {"state", QString::fromLatin1(hub::to_string(f.state))},
                         {"message", QString::fromStdString(f.message)}};
  return {{"done", double(p.bytes_done)}, {"total", double(p.bytes_total)}, {"speed", p.bytes_per_second},
          {"eta", p.eta_seconds}, {"filesDone", p.files_done}, {"files", files}};
}
}  // namespace

HubController::HubController(QObject* parent) : QObject(parent) {
  // The curated list shows at once, without badges; browse() adds search and fit.
  try {
    for (const auto& e : hub::load_catalog(hub::default_catalog_path())) catalog_ << row_to_variant({e, {}});
  } catch (const std::exception& e) {
    error_ = QString::fromStdString(e.what());
  }
}

HubController::~HubController() {
  if (downloader_) downloader_->cancel();
  for (QThread* t : {browse_thread_, download_thread_})
    if (t) {
      t->wait();
      delete t;
    }
}

void HubController::setGpu(const QString& name, double total_bytes, double free_bytes) {
  gpu_name_ = name;
  gpu_total_ = total_bytes;
  gpu_free_ = free_bytes;
}

void HubController::browse(const QString& query) {
  if (browse_thread_) return;
  const std::string q = query.toStdString();
  const std::string gpu_name = gpu_name_.toStdString();
  const double total = gpu_total_, free = gpu_free_;
  QPointer<HubController> self(this);
  browse_thread_ = QThread::create([self, q, gpu_name, total, free] {
    QVariantList rows;
    QString error;
    try {
      const auto catalog = hub::load_catalog(hub::default_catalog_path());
      auto downloader = std::make_shared<hub::Downloader>(hub::HubSettings::from_environment());
      hub::FitChecker fit;
#if HLWQ_HUB_HAVE_PLANNER
      planner::GpuSpec gpu;
      if (!gpu_name.empty() && total > 0) {
        gpu.name = gpu_name;
        gpu.total_bytes = uint64_t(total);
        gpu.free_bytes = uint64_t(free);
      } else {
        gpu = planner::find_gpu("RTX 4090").spec();
      }
      fit = hub::make_planner_fit_checker(*downloader, gpu, planner::PlanOptions{});
#endif
      for (const auto& row : hub::browse_models(catalog, &downloader->client(), q, fit)) rows << row_to_variant(row);
    } catch (const std::exception& e) {
      error = QString::fromStdString(e.what());
    }
    QMetaObject::invokeMethod(
        self.data(),
        [self, rows, error] {
          if (!self) return;
          if (!rows.isEmpty()) self->catalog_ = rows;
          if (!error.isEmpty()) self->error_ = error;
          self->browse_thread_->deleteLater();
          self->browse_thread_ = nullptr;
          emit self->catalogChanged();
          emit self->downloadChanged();
        },
        Qt::QueuedConnection);
  });
  browse_thread_->start();
  emit catalogChanged();
}

bool HubController::download(int row) {
  if (download_thread_ || row < 0 || row >= catalog_.size()) return false;
  const QVariantMap e = catalog_[row].toMap();
  if (!e.value("loadable").toBool()) {
    error_ = tr("%1 cannot be loaded by this app: %2").arg(e.value("title").toString(), e.value("notes").toString());
    emit downloadChanged();
    return false;
  }
  hub::DownloadRequest request;
  request.repo = e.value("repo").toString().toStdString();
  request.revision = e.value("revision").toString().toStdString();
  for (const QString& g : e.value("files").toStringList()) request.include.push_back(g.toStdString());
  const int bits = e.value("quantizeBits").toInt();
  downloader_ = std::make_shared<hub::Downloader>(hub::HubSettings::from_environment());
  error_.clear();
  paused_ = false;
  download_title_ = e.value("title").toString();
  progress_.clear();
  QPointer<HubController> self(this);
  auto downloader = downloader_;
  download_thread_ = QThread::create([self, downloader, request, bits] {
    QString path, error;
    auto report = [self](const hub::DownloadProgress& p) {
      const QVariantMap v = progress_to_variant(p);
      QMetaObject::invokeMethod(self.data(), [self, v] {
        if (!self) return;
        self->progress_ = v;
        emit self->progressChanged();
      }, Qt::QueuedConnection);
    };
    try {
      if (bits > 0) {
        hub::QuantizeRequest q;
        q.source = request;
        q.bits = bits;
        path = QString::fromStdString(hub::download_and_quantize(*downloader, q, report).string());
      } else {
        path = QString::fromStdString(downloader->download(request, report).string());
      }
    } catch (const std::exception& e) {
      error = QString::fromStdString(e.what());
    }
    QMetaObject::invokeMethod(self.data(), [self, path, error] {
      if (!self) return;
      self->download_thread_->deleteLater();
      self->download_thread_ = nullptr;
      self->downloader_.reset();
      self->error_ = error;
      emit self->downloadChanged();
      if (error.isEmpty()) emit self->downloaded(path);
    }, Qt::QueuedConnection);
  });
  download_thread_->start();
  emit downloadChanged();
  return true;
}

void HubController::pause() {
  if (!downloader_) return;
  downloader_->pause();
  paused_ = true;
  emit downloadChanged();
}

void HubController::resume() {
  if (!downloader_) return;
  downloader_->resume();
  paused_ = false;
  emit downloadChanged();
}

void HubController::cancel() {
  if (downloader_) downloader_->cancel();  // partial blobs stay for a later resume
}

}  // namespace hlwq::ui
