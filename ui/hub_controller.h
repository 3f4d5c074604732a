#pragma once
// The Models page's catalog: the curated list plus Hub search, each with the planner's fit
// badge, and one download at a time (pause, resume, cancel, progress per file) run off the GUI
// thread by hlwq_hub. BF16 sources are quantized while they download. Built only with hlwq_hub.
// Header kept free of engine headers (see fit_controller.h).
#include <QObject>
#include <QThread>
#include <QVariantList>
#include <QtQml/qqmlregistration.h>
#include <memory>

namespace hlwq::hub {
class Downloader;
}

namespace hlwq::ui {

class HubController : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("owned by App")
  Q_PROPERTY(QVariantList catalog READ catalog NOTIFY catalogChanged)
  Q_PROPERTY(bool browsing READ browsing NOTIFY catalogChanged)
  Q_PROPERTY(bool downloading READ downloading NOTIFY downloadChanged)
  Q_PROPERTY(bool paused READ paused NOTIFY downloadChanged)
  Q_PROPERTY(QString downloadTitle READ downloadTitle NOTIFY downloadChanged)
  Q_PROPERTY(QVariantMap progress READ progress NOTIFY progressChanged)  // {done,total,speed,eta,files:[{path,done,total,state,message}]}
  Q_PROPERTY(QString error READ error NOTIFY downloadChanged)
 public:
  explicit HubController(QObject* parent = nullptr);
  ~HubController() override;

  QVariantList catalog() const { return catalog_; }
  bool browsing() const { return browse_thread_ != nullptr; }
  bool downloading() const { return download_thread_ != nullptr; }
  bool paused() const { return paused_; }
  QString downloadTitle() const { return download_title_; }
  QVariantMap progress() const { return progress_; }
  QString error() const { return error_; }

  void setGpu(const QString& name, double total_bytes, double free_bytes);  // for the fit badges
  Q_INVOKABLE void browse(const QString& query = {});  // curated + Hub search, with fit badges
  Q_INVOKABLE bool download(int row);
  Q_INVOKABLE void pause();
  Q_INVOKABLE void resume();
  Q_INVOKABLE void cancel();

 signals:
  void catalogChanged();
  void downloadChanged();
  void progressChanged();
  void downloaded(const QString& path);

 private:
  QVariantList catalog_;
  QThread* browse_thread_ = nullptr;
  QThread* download_thread_ = nullptr;
  std::shared_ptr<hub::Downloader> downloader_;
  bool paused_ = false;
  QString download_title_;
  QVariantMap progress_;
  QString error_;
  QString gpu_name_;
  double gpu_total_ = 0;
  double gpu_free_ = 0;
};

}  // namespace hlwq::ui
