#pragma once
// A line-based script that drives the running app like a user would, for end-to-end tests,
// measurements and screenshots (`hlwq-chat --script FILE`). Each command waits for its
// outcome; progress goes to stdout, one line per event, so a test can follow along.
//
//   wait-model                  wait for the model loading at start (fails if none) and the
//                               window's first frame
//   load PATH                   load a model and wait
//   new                         start a new chat
//   send TEXT                   send and wait for the whole reply
//   send-nowait TEXT            send and go on (prints "persisted N" as the reply is saved)
//   wait-reply                  wait for the reply in flight
//   stop                        press Stop
//   kv fp16|q4|q3|q2            switch the KV mode and wait until applied
//   expect-messages N           fail unless the open chat has N messages
//   expect-reply-nonempty       fail unless the last reply has an answer
//   thinking on|off             the thinking switch
//   max-tokens N                the longest reply
//   stall-reset | stall-report LABEL
//   page chat|models|fit        show a page
//   screenshot FILE             grab the window into a PNG
//   invoke FUNCTION             call a function of Main.qml (open a popup for a screenshot)
//   sleep MS | quit
#include <QObject>
#include <QStringList>
#include <QTextStream>

class QQuickWindow;

namespace hlwq::ui {
class AppController;
}

namespace hlwq::app {

class StallMeter;

class ChatScript : public QObject {
  Q_OBJECT
 public:
  ChatScript(QStringList lines, ui::AppController* app, QQuickWindow* window, StallMeter* stall);
  void start();  // runs on the event loop; quits the app with 0 or 2 at the end

 private:
  bool run(const QString& line);
  bool waitFor(const std::function<bool()>& done, int timeout_ms);
  void out(const QString& line);

  QStringList lines_;
  ui::AppController* app_;
  QQuickWindow* window_;
  StallMeter* stall_;
  QTextStream stdout_;
  int timeout_ms_;
  int frames_ = 0;  // frames the window has shown
};

}  // namespace hlwq::app
