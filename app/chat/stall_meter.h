#pragma once
// Measures how long the GUI event loop stops answering: a short-interval QTimer notes the gap
// between its ticks; the longest gap beyond the interval is the worst stall a user felt.
#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

namespace hlwq::app {

class StallMeter : public QObject {
  Q_OBJECT
 public:
  explicit StallMeter(int interval_ms = 5, QObject* parent = nullptr);
  void restart();               // forget the worst stall so far
  double worstStallMs() const { return worst_ms_; }
  int ticks() const { return ticks_; }

 private:
  void tick();
  QTimer timer_;
  QElapsedTimer clock_;
  qint64 last_ns_ = 0;
  double worst_ms_ = 0;
  int ticks_ = 0;
};

}  // namespace hlwq::app
