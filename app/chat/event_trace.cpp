#include "event_trace.h"

#include <QAbstractEventDispatcher>
#include <QEvent>
#include <QMetaEnum>
#include <QThread>
#include <cstdio>

namespace hlwq::app {

TracingApplication::TracingApplication(int& argc, char** argv) : QApplication(argc, argv) {
  bool ok = false;
  const double ms = qEnvironmentVariable("HLWQ_STALL_TRACE").toDouble(&ok);
  if (ok && ms >= 0) threshold_ms_ = ms;
  clock_.start();
  if (threshold_ms_ < 0) return;
  auto* dispatcher = eventDispatcher();
  connect(dispatcher, &QAbstractEventDispatcher::aboutToBlock, this, [this] { blocked_at_ = clock_.nsecsElapsed(); });
  connect(dispatcher, &QAbstractEventDispatcher::awake, this, [this] {
    if (blocked_at_ >= 0 && !nested_ns_.empty()) nested_ns_.back() += clock_.nsecsElapsed() - blocked_at_;
    blocked_at_ = -1;
  });
}

bool TracingApplication::notify(QObject* receiver, QEvent* event) {
  if (threshold_ms_ < 0 || QThread::currentThread() != thread()) return QApplication::notify(receiver, event);
  // Read before delivery: a DeferredDelete (or a slot) may delete the receiver.
  const char* receiver_class = receiver->metaObject()->className();
  const QString receiver_name = receiver->objectName();
  const QEvent::Type type = event->type();
  const qint64 start = clock_.nsecsElapsed();
  nested_ns_.push_back(0);
  const bool result = QApplication::notify(receiver, event);
  const qint64 total = clock_.nsecsElapsed() - start;
  const double self_ms = double(total - nested_ns_.back()) / 1e6;
  nested_ns_.pop_back();
  if (!nested_ns_.empty()) nested_ns_.back() += total;
  if (self_ms >= threshold_ms_) {
    const char* type_name = QMetaEnum::fromType<QEvent::Type>().valueToKey(type);
    std::fprintf(stderr, "stall-trace %.3f s: %.1f ms in %s '%s' event %s (%d)\n", double(start) / 1e9, self_ms,
                 receiver_class, qPrintable(receiver_name), type_name ? type_name : "?", int(type));
  }
  return result;
}

}  // namespace hlwq::app
