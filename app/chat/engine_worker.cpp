#include "engine_worker.h"

#include <exception>

#include "core/error.h"

namespace hlwq::app {
namespace {
QString describe(const std::exception& e) {
  if (auto* err = dynamic_cast<const Error*>(&e))
    return QStringLiteral("%1: %2").arg(QString::fromLatin1(to_string(err->kind())), QString::fromStdString(err->what()));
  return QString::fromStdString(e.what());
}
}  // namespace

EngineWorker::EngineWorker(std::shared_ptr<Session> session, std::shared_ptr<std::atomic<quint64>> cancelled_upto)
    : session_(std::move(session)), cancelled_upto_(std::move(cancelled_upto)) {}

void EngineWorker::load(const LoadOptions& options) {
  try {
    if (session_->loaded()) session_->unload();
    session_->load(options, [this](double f, const std::string& stage) {
      emit loadProgress(f, QString::fromStdString(stage));
    });
    emit loadFinished(true, {});
  } catch (const std::exception& e) {
    emit loadFinished(false, describe(e));
  }
}

void EngineWorker::unload() {
  try {
    session_->unload();
  } catch (const std::exception&) {
    // Unloading frees memory; a failure leaves nothing the user can act on.
  }
  emit unloaded();
}

void EngineWorker::chat(const ChatRequest& request) {
  ChatOutcome outcome;
  outcome.id = request.id;
  if (request.id <= cancelled_upto_->load()) {
    outcome.stop_reason = QStringLiteral("cancelled");
    outcome.stats = session_->stats();
    emit chatFinished(outcome);
    return;
  }
  try {
    const quint64 id = request.id;
    ChatResult r = session_->chat(request.messages, request.options, [this, id](const StreamEvent& ev) {
      // A Stop that landed between the check above and chat() resetting its flag.
      if (id <= cancelled_upto_->load()) session_->cancel();
      emit streamed(id, ev.channel == StreamEvent::Channel::Thinking, QString::fromStdString(ev.text));
    });
    outcome.answer = QString::fromStdString(r.answer);
    outcome.reasoning = QString::fromStdString(r.reasoning);
    outcome.stop_reason = QString::fromStdString(r.stop_reason);
    outcome.stats = r.stats;
  } catch (const std::exception& e) {
    outcome.stop_reason = QStringLiteral("error");
    outcome.error = describe(e);
    outcome.stats = session_->stats();
  }
  emit chatFinished(outcome);
}

void EngineWorker::setKv(const KvConfig& kv) {
  try {
    session_->set_kv(kv);
    emit kvChanged(true, {});
  } catch (const std::exception& e) {
    emit kvChanged(false, describe(e));
  }
}

void EngineWorker::reset() {
  try {
    session_->reset();
  } catch (const std::exception&) {
    // reset() only drops a cache; the next chat() re-renders the whole prompt anyway.
  }
}

}  // namespace hlwq::app
