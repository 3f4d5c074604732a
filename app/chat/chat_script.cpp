#include "chat_script.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QImage>
#include <QQuickWindow>
#include <QTimer>
#include <cstdio>

#include "app_controller.h"
#include "stall_meter.h"

namespace hlwq::app {

ChatScript::ChatScript(QStringList lines, ui::AppController* app, QQuickWindow* window, StallMeter* stall)
    : lines_(std::move(lines)), app_(app), window_(window), stall_(stall), stdout_(stdout) {
  timeout_ms_ = qEnvironmentVariableIntValue("HLWQ_SCRIPT_TIMEOUT_S") * 1000;
  if (timeout_ms_ <= 0) timeout_ms_ = 300000;
  connect(window_, &QQuickWindow::frameSwapped, this, [this] { ++frames_; });
  connect(app_->chat(), &ui::ChatController::chunkPersisted, this,
          [this](int chars) { out(QStringLiteral("persisted %1").arg(chars)); });
}

void ChatScript::out(const QString& line) {
  stdout_ << line << Qt::endl;
}

void ChatScript::start() {
  QTimer::singleShot(0, this, [this] {
    for (const QString& raw : lines_) {
      const QString line = raw.trimmed();
      if (line.isEmpty() || line.startsWith('#')) continue;
      out(QStringLiteral("> %1").arg(line));
      if (line == QLatin1String("quit")) break;
      if (!run(line)) {
        out(QStringLiteral("script failed at: %1").arg(line));
        QCoreApplication::exit(2);
        return;
      }
    }
    QCoreApplication::exit(0);
  });
}

bool ChatScript::waitFor(const std::function<bool()>& done, int timeout_ms) {
  QElapsedTimer clock;
  clock.start();
  while (!done()) {
    if (clock.elapsed() > timeout_ms) {
      out(QStringLiteral("timed out after %1 ms").arg(timeout_ms));
      return false;
    }
    QEventLoop loop;
    QTimer::singleShot(5, &loop, &QEventLoop::quit);
    loop.exec();
  }
  return true;
}

bool ChatScript::run(const QString& line) {
  const QString cmd = line.section(' ', 0, 0);
  const QString arg = line.section(' ', 1);
  auto* chat = app_->chat();
  auto* models = app_->models();
  auto reply_done = [chat] { return !chat->busy(); };
  auto print_reply = [&] {
    const auto& all = app_->messages()->all();
    if (all.isEmpty()) return;
    const auto& m = all.back();
    out(QStringLiteral("reply state=%1 tokens=%2 tps=%3 ttft=%4 chars=%5 thinking_chars=%6")
            .arg(m.state)
            .arg(m.tokens)
            .arg(m.tokens_per_s, 0, 'f', 2)
            .arg(m.ttft_s, 0, 'f', 3)
            .arg(m.content.size())
            .arg(m.thinking.size()));
  };

  if (cmd == QLatin1String("wait-model")) {
    // The window's first frame (all of it built and drawn once, 15-70 ms of GUI-thread work)
    // belongs to start-up; waiting for it keeps it out of whatever the script measures next.
    if (!waitFor([models, this] { return !models->loading() && frames_ > 0; }, timeout_ms_)) return false;
    out(QStringLiteral("model loaded=%1 backend=%2 %3").arg(models->loaded()).arg(models->backendLabel(), models->error()));
    return models->loaded();
  }
  if (cmd == QLatin1String("load")) {
    models->load(arg);
    if (!waitFor([models] { return !models->loading(); }, timeout_ms_)) return false;
    out(QStringLiteral("model loaded=%1 backend=%2 %3").arg(models->loaded()).arg(models->backendLabel(), models->error()));
    return models->loaded();
  }
  if (cmd == QLatin1String("new")) {
    chat->newChat();
    out(QStringLiteral("chat %1").arg(chat->currentChatId()));
    return true;
  }
  if (cmd == QLatin1String("send") || cmd == QLatin1String("send-nowait")) {
    if (!chat->send(arg)) {
      out(QStringLiteral("send refused: %1").arg(chat->lastError()));
      return false;
    }
    if (cmd == QLatin1String("send-nowait")) return true;
    if (!waitFor(reply_done, timeout_ms_)) return false;
    print_reply();
    if (app_->messages()->all().back().state == QLatin1String("error")) {
      out(QStringLiteral("reply error: %1").arg(chat->lastError()));
      return false;
    }
    return true;
  }
  if (cmd == QLatin1String("wait-reply")) {
    if (!waitFor(reply_done, timeout_ms_)) return false;
    print_reply();
    return true;
  }
  if (cmd == QLatin1String("stop")) {
    chat->stop();
    return true;
  }
  if (cmd == QLatin1String("kv")) {
    app_->stats()->setKvMode(arg);
    if (!waitFor([this] { return !app_->stats()->kvSwitching(); }, timeout_ms_)) return false;
    app_->stats()->refresh();
    out(QStringLiteral("kv %1 bytes=%2 fp16=%3").arg(app_->stats()->kvMode())
            .arg(app_->stats()->kvUsedBytes(), 0, 'f', 0).arg(app_->stats()->kvUsedFp16Bytes(), 0, 'f', 0));
    return app_->stats()->kvMode() == arg;
  }
  if (cmd == QLatin1String("expect-messages")) {
    const int n = app_->messages()->rowCount();
    out(QStringLiteral("messages %1").arg(n));
    return n == arg.toInt();
  }
  if (cmd == QLatin1String("expect-reply-nonempty")) {
    const auto& all = app_->messages()->all();
    return !all.isEmpty() && all.back().role == QLatin1String("assistant") && !all.back().content.trimmed().isEmpty();
  }
  if (cmd == QLatin1String("thinking")) {
    chat->setThinkingEnabled(arg == QLatin1String("on"));
    return true;
  }
  if (cmd == QLatin1String("max-tokens")) {
    chat->setMaxNewTokens(arg.toInt());
    return true;
  }
  if (cmd == QLatin1String("stall-reset")) {
    stall_->restart();
    return true;
  }
  if (cmd == QLatin1String("stall-report")) {
    out(QStringLiteral("stall %1: worst %2 ms over %3 ticks").arg(arg).arg(stall_->worstStallMs(), 0, 'f', 1).arg(stall_->ticks()));
    return true;
  }
  if (cmd == QLatin1String("page")) {
    window_->setProperty("page", arg);
    return true;
  }
  if (cmd == QLatin1String("screenshot")) {
    waitFor([] { return false; }, 400);  // let animations and layouts settle
    const QImage image = window_->grabWindow();
    const bool ok = !image.isNull() && image.save(arg);
    out(QStringLiteral("screenshot %1 %2").arg(arg, ok ? QStringLiteral("saved") : QStringLiteral("FAILED")));
    return ok;
  }
  if (cmd == QLatin1String("invoke")) {  // call a QML function on the window: invoke NAME
    return QMetaObject::invokeMethod(window_, arg.toLatin1().constData());
  }
  if (cmd == QLatin1String("sleep")) {
    waitFor([] { return false; }, arg.toInt());
    return true;
  }
  out(QStringLiteral("unknown command: %1").arg(cmd));
  return false;
}

}  // namespace hlwq::app
