#pragma once
// The messages of the open chat. Streaming chunks update one row in place (dataChanged on the
// text roles only), so the view does not rebuild while a reply arrives.
#include <QAbstractListModel>
#include <QTimer>
#include <QtQml/qqmlregistration.h>

#include "chat_store.h"

namespace hlwq::ui {

class MessageListModel : public QAbstractListModel {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("owned by App")
  Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
 public:
  enum Role {
    IdRole = Qt::UserRole + 1, RoleRole, ContentRole, ThinkingRole, StateRole, TokensRole, TokensPerSecondRole,
    TtftRole, KvModeRole, BlocksRole, StreamingRole
  };
  explicit MessageListModel(QObject* parent = nullptr);
  // Streamed text reaches the view at most this often: re-laying out Markdown per token would
  // cost the GUI thread more than the engine spends making the token.
  static constexpr int kRepaintIntervalMs = 50;

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  void setMessages(QList<app::StoredMessage> messages);
  void append(const app::StoredMessage& m);
  void appendText(int row, bool thinking, const QString& text);
  void replace(int row, const app::StoredMessage& m);
  void truncate(int first_row);  // removes first_row and every row after it
  const app::StoredMessage& at(int row) const { return messages_[row]; }
  const QList<app::StoredMessage>& all() const { return messages_; }
  Q_INVOKABLE QVariantMap get(int row) const;

 signals:
  void countChanged();

 private:
  void flushPending();

  QList<app::StoredMessage> messages_;
  QTimer repaint_;
  int pending_row_ = -1;
  bool pending_thinking_ = false;
  bool pending_answer_ = false;
};

}  // namespace hlwq::ui
