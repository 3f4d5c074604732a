#pragma once
// Names the GUI-thread work behind a stall (docs/APP.md, "Measurements"): with
// HLWQ_STALL_TRACE=MS set, every event that keeps the GUI thread busy for MS or more of its
// own time is printed to stderr with its receiver and type. Own time leaves out the events
// delivered inside it and the time a nested event loop (the --script waits) sat idle. Off, it
// costs one branch per event.
#include <QApplication>
#include <QElapsedTimer>
#include <vector>

namespace hlwq::app {

class TracingApplication : public QApplication {
 public:
  TracingApplication(int& argc, char** argv);
  bool notify(QObject* receiver, QEvent* event) override;

 private:
  double threshold_ms_ = -1;  // < 0: off
  QElapsedTimer clock_;
  std::vector<qint64> nested_ns_;  // per open delivery: time in deliveries inside it, or idle
  qint64 blocked_at_ = -1;         // when the event loop went idle, -1 while busy
};

}  // namespace hlwq::app
