#include "fit_controller.h"

#include <QVariantMap>
#include <cmath>

#include "core/error.h"
#include "planner/fit.h"
#include "planner/gpu_table.h"
#include "planner/model_source.h"

namespace hlwq::ui {
namespace {
planner::GpuSpec gpu_at(int index, const QString& detected, double total, double free) {
  if (!detected.isEmpty()) {
    if (index == 0) {
      planner::GpuSpec g;
      g.name = detected.toStdString();
      g.total_bytes = uint64_t(total);
      g.free_bytes = uint64_t(free);
      return g;
    }
    --index;
  }
  const auto& gpus = planner::known_gpus();
  return gpus[size_t(std::clamp(index, 0, int(gpus.size()) - 1))].spec();
}

QString mode_name(const KvConfig& kv) {
  return kv.k_bits >= 16 && kv.v_bits >= 16 ? QStringLiteral("fp16") : QString::fromStdString(kv_name(kv));
}
}  // namespace

FitController::FitController(QObject* parent) : QObject(parent) {
  // Start on a common 24 GB card: the question most people bring.
  const auto& gpus = planner::known_gpus();
  for (size_t i = 0; i < gpus.size(); ++i)
    if (QString::fromLatin1(gpus[i].name).contains(QLatin1String("4090"))) gpu_index_ = int(i);
}

QStringList FitController::gpuNames() const {
  QStringList names;
  if (!detected_name_.isEmpty()) names << tr("This GPU: %1").arg(detected_name_);
  for (const auto& g : planner::known_gpus())
    names << QStringLiteral("%1 (%2 GiB)").arg(QString::fromLatin1(g.name)).arg(double(g.total_mib) / 1024.0, 0, 'f', 1);
  return names;
}

void FitController::setDetectedGpu(const QString& name, double total_bytes, double free_bytes) {
  if (name.isEmpty() || total_bytes <= 0) return;
  const bool was_detected = !detected_name_.isEmpty();
  detected_name_ = name;
  detected_total_ = total_bytes;
  detected_free_ = free_bytes;
  if (!was_detected) gpu_index_ = 0;  // plan for the card we run on
  emit gpusChanged();
  emit inputsChanged();
}

void FitController::setGpuIndex(int i) { if (i != gpu_index_) { gpu_index_ = i; emit inputsChanged(); } }
void FitController::setModelPath(const QString& p) { if (p != model_path_) { model_path_ = p; emit inputsChanged(); } }
void FitController::setContextLength(int n) { if (n != context_ && n > 0) { context_ = n; emit inputsChanged(); } }
void FitController::setKvMode(const QString& m) { if (m != kv_mode_) { kv_mode_ = m; emit inputsChanged(); } }
void FitController::setWeightBits(int b) { if (b != bits_) { bits_ = b; emit inputsChanged(); } }

void FitController::evaluate() {
  QVariantMap r;
  try {
    if (model_path_.isEmpty()) throw_error(ErrorKind::InvalidArgument, "no model chosen");
    const planner::ModelSpec model = planner::load_model_spec(model_path_.toStdString(), bits_);
    const planner::GpuSpec gpu = gpu_at(gpu_index_, detected_name_, detected_total_, detected_free_);
    planner::PlanOptions options;
    options.context_length = context_;
    const auto kv = parse_kv_name(kv_mode_.toStdString());
    if (!kv) throw_error(ErrorKind::InvalidArgument, "KV mode ", kv_mode_.toStdString());
    options.kv = *kv;
    const planner::FitReport report = planner::check_fit(model, gpu, options);

    r["verdict"] = QString::fromLatin1(planner::to_string(report.verdict));
    r["level"] = report.verdict == planner::Verdict::Fits                 ? QStringLiteral("fits")
                 : report.verdict == planner::Verdict::FitsReducedContext ? QStringLiteral("tight")
                                                                          : QStringLiteral("no");
    r["required"] = double(report.plan.required_bytes());
    r["free"] = double(gpu.free_bytes);
    r["total"] = double(gpu.total_bytes);
    r["gpu"] = QString::fromStdString(gpu.name);
    r["maxContext"] = double(report.max_context);
    QVariantList items;
    for (const auto& item : report.plan.items())
      items << QVariantMap{{"name", QString::fromStdString(item.name)}, {"bytes", double(item.bytes)},
                           {"detail", QString::fromStdString(item.detail)}};
    r["items"] = items;
    QVariantList per_mode;
    for (const auto& m : report.per_mode) per_mode << QVariantMap{{"mode", mode_name(m.kv)}, {"maxContext", double(m.max_context)}};
    r["perMode"] = per_mode;
    r["bestBits"] = report.best_weight_bits ? *report.best_weight_bits : 0;

    // VRAM needed against context for each mode, on a doubling grid up to the model's limit.
    const int64_t limit = model.config.max_position_embeddings;
    QVariantList curves;
    for (const KvConfig& mode : planner::standard_kv_modes()) {
      QVariantList points;
      for (int64_t ctx = 1024; ctx <= limit; ctx *= 2) {
        planner::PlanOptions o = options;
        o.kv = mode;
        o.context_length = ctx;
        points << QVariantMap{{"context", double(ctx)}, {"bytes", double(planner::make_plan(model, gpu, o).required_bytes())}};
      }
      curves << QVariantMap{{"mode", mode_name(mode)}, {"points", points}};
    }
    r["curves"] = curves;
    r["contextLimit"] = double(limit);
    r["ok"] = true;
  } catch (const std::exception& e) {
    r["ok"] = false;
    r["error"] = QString::fromStdString(e.what());
  }
  result_ = r;
  emit resultChanged();
}

}  // namespace hlwq::ui
