#pragma once
// The Fit page: asks the VRAM planner (engine/planner, the code that also drives allocation)
// whether a model fits a GPU at a context and KV mode, the itemised breakdown, the largest
// context per KV mode, and VRAM-vs-context curves to draw. Built only with hlwq_planner.
// Header kept free of engine headers: planner and session both define hlwq::KvConfig.
#include <QObject>
#include <QVariantList>
#include <QtQml/qqmlregistration.h>

namespace hlwq::ui {

class FitController : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("owned by App")
  Q_PROPERTY(QStringList gpuNames READ gpuNames NOTIFY gpusChanged)
  Q_PROPERTY(int gpuIndex READ gpuIndex WRITE setGpuIndex NOTIFY inputsChanged)
  Q_PROPERTY(QString modelPath READ modelPath WRITE setModelPath NOTIFY inputsChanged)
  Q_PROPERTY(int contextLength READ contextLength WRITE setContextLength NOTIFY inputsChanged)
  Q_PROPERTY(QString kvMode READ kvMode WRITE setKvMode NOTIFY inputsChanged)
  Q_PROPERTY(int weightBits READ weightBits WRITE setWeightBits NOTIFY inputsChanged)
  Q_PROPERTY(QVariantMap result READ result NOTIFY resultChanged)
 public:
  explicit FitController(QObject* parent = nullptr);

  QStringList gpuNames() const;
  int gpuIndex() const { return gpu_index_; }
  void setGpuIndex(int i);
  QString modelPath() const { return model_path_; }
  void setModelPath(const QString& p);
  int contextLength() const { return context_; }
  void setContextLength(int n);
  QString kvMode() const { return kv_mode_; }
  void setKvMode(const QString& m);
  int weightBits() const { return bits_; }
  void setWeightBits(int b);
  // {ok, error, verdict, level ("fits"|"tight"|"no"), required, free, total, gpu, items:[{name,bytes,detail}],
  //  perMode:[{mode,maxContext}], bestBits, curves:[{mode, points:[{context,bytes}]}], maxContext}
  QVariantMap result() const { return result_; }

  // The card the engine runs on, offered first in the GPU list (from Session stats).
  Q_INVOKABLE void setDetectedGpu(const QString& name, double total_bytes, double free_bytes);
  Q_INVOKABLE void evaluate();

 signals:
  void gpusChanged();
  void inputsChanged();
  void resultChanged();

 private:
  QString detected_name_;
  double detected_total_ = 0;
  double detected_free_ = 0;
  int gpu_index_ = 0;
  QString model_path_;
  int context_ = 32768;
  QString kv_mode_ = QStringLiteral("fp16");
  int bits_ = 5;
  QVariantMap result_;
};

}  // namespace hlwq::ui
