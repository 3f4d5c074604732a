#include "stall_meter.h"

#include <algorithm>

namespace hlwq::app {

StallMeter::StallMeter(int interval_ms, QObject* parent) : QObject(parent) {
  timer_.setInterval(interval_ms);
  timer_.setTimerType(Qt::PreciseTimer);
  connect(&timer_, &QTimer::timeout, this, &StallMeter::tick);
  restart();
  timer_.start();
}

void StallMeter::restart() {
  clock_.start();
  last_ns_ = 0;
  worst_ms_ = 0;
  ticks_ = 0;
}

void StallMeter::tick() {
  const qint64 now = clock_.nsecsElapsed();
  const double gap_ms = double(now - last_ns_) / 1e6 - timer_.interval();
  worst_ms_ = std::max(worst_ms_, gap_ms);
  last_ns_ = now;
  ++ticks_;
}

}  // namespace hlwq::app
