#include "engine_client.h"

namespace hlwq::app {

EngineClient::EngineClient(std::shared_ptr<Session> session, QObject* parent)
    : QObject(parent), session_(std::move(session)), cancelled_upto_(std::make_shared<std::atomic<quint64>>(0)) {
  qRegisterMetaType<hlwq::LoadOptions>();
  qRegisterMetaType<hlwq::KvConfig>();
  qRegisterMetaType<hlwq::app::ChatRequest>();
  qRegisterMetaType<hlwq::app::ChatOutcome>();
  worker_ = new EngineWorker(session_, cancelled_upto_);
  worker_->moveToThread(&thread_);
  thread_.setObjectName(QStringLiteral("hlwq-engine"));
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);

  connect(this, &EngineClient::requestLoad, worker_, &EngineWorker::load, Qt::QueuedConnection);
  connect(this, &EngineClient::requestUnload, worker_, &EngineWorker::unload, Qt::QueuedConnection);
  connect(this, &EngineClient::requestChat, worker_, &EngineWorker::chat, Qt::QueuedConnection);
  connect(this, &EngineClient::requestKv, worker_, &EngineWorker::setKv, Qt::QueuedConnection);
  connect(this, &EngineClient::requestReset, worker_, &EngineWorker::reset, Qt::QueuedConnection);

  connect(worker_, &EngineWorker::loadProgress, this, &EngineClient::loadProgress, Qt::QueuedConnection);
  connect(worker_, &EngineWorker::loadFinished, this, &EngineClient::loadFinished, Qt::QueuedConnection);
  connect(worker_, &EngineWorker::unloaded, this, &EngineClient::unloaded, Qt::QueuedConnection);
  connect(worker_, &EngineWorker::streamed, this, &EngineClient::streamed, Qt::QueuedConnection);
  connect(worker_, &EngineWorker::chatFinished, this, &EngineClient::chatFinished, Qt::QueuedConnection);
  connect(worker_, &EngineWorker::kvChanged, this, &EngineClient::kvChanged, Qt::QueuedConnection);
  thread_.start();
}

EngineClient::~EngineClient() {
  // Stop generation first so the worker's current call returns promptly; a running load()
  // cannot be interrupted, so quitting waits for it.
  cancel();
  thread_.quit();
  thread_.wait();
}

void EngineClient::load(const LoadOptions& options) { emit requestLoad(options); }
void EngineClient::unload() {
  cancel();
  emit requestUnload();
}

quint64 EngineClient::chat(std::vector<ChatMessage> messages, GenerationOptions options) {
  ChatRequest request{++next_id_, std::move(messages), std::move(options)};
  emit requestChat(request);
  return request.id;
}

void EngineClient::cancel() {
  cancelled_upto_->store(next_id_);
  session_->cancel();
}

void EngineClient::setKv(const KvConfig& kv) { emit requestKv(kv); }
void EngineClient::reset() { emit requestReset(); }

}  // namespace hlwq::app
