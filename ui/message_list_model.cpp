#include "message_list_model.h"

#include "markdown_blocks.h"

namespace hlwq::ui {

MessageListModel::MessageListModel(QObject* parent) : QAbstractListModel(parent) {
  repaint_.setSingleShot(true);
  repaint_.setInterval(kRepaintIntervalMs);
  connect(&repaint_, &QTimer::timeout, this, &MessageListModel::flushPending);
}

void MessageListModel::flushPending() {
  if (pending_row_ < 0 || pending_row_ >= messages_.size()) {
    pending_row_ = -1;
    return;
  }
  QList<int> roles;
  if (pending_thinking_) roles << ThinkingRole;
  if (pending_answer_) roles << ContentRole << BlocksRole;
  const QModelIndex i = index(pending_row_);
  pending_row_ = -1;
  pending_thinking_ = pending_answer_ = false;
  emit dataChanged(i, i, roles);
}

int MessageListModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(messages_.size()); }

QVariant MessageListModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= messages_.size()) return {};
  const auto& m = messages_[index.row()];
  switch (role) {
    case IdRole: return m.id;
    case RoleRole: return m.role;
    case Qt::DisplayRole:
    case ContentRole: return m.content;
    case ThinkingRole: return m.thinking;
    case StateRole: return m.state;
    case TokensRole: return m.tokens;
    case TokensPerSecondRole: return m.tokens_per_s;
    case TtftRole: return m.ttft_s;
    case KvModeRole: return m.kv_mode;
    case BlocksRole: return blocks_to_variant(split_markdown(m.content));
    case StreamingRole: return m.state == QLatin1String("streaming");
  }
  return {};
}

QHash<int, QByteArray> MessageListModel::roleNames() const {
  return {{IdRole, "messageId"}, {RoleRole, "role"},     {ContentRole, "content"},   {ThinkingRole, "thinking"},
          {StateRole, "state"},  {TokensRole, "tokens"}, {TokensPerSecondRole, "tokensPerSecond"},
          {TtftRole, "ttft"},    {KvModeRole, "kvMode"}, {BlocksRole, "blocks"},     {StreamingRole, "streaming"}};
}

void MessageListModel::setMessages(QList<app::StoredMessage> messages) {
  pending_row_ = -1;
  beginResetModel();
  messages_ = std::move(messages);
  endResetModel();
  emit countChanged();
}

void MessageListModel::append(const app::StoredMessage& m) {
  beginInsertRows({}, int(messages_.size()), int(messages_.size()));
  messages_.push_back(m);
  endInsertRows();
  emit countChanged();
}

void MessageListModel::appendText(int row, bool thinking, const QString& text) {
  if (row < 0 || row >= messages_.size()) return;
  (thinking ? messages_[row].thinking : messages_[row].content) += text;
  if (pending_row_ >= 0 && pending_row_ != row) flushPending();
  pending_row_ = row;
  (thinking ? pending_thinking_ : pending_answer_) = true;
  if (!repaint_.isActive()) repaint_.start();
}

void MessageListModel::replace(int row, const app::StoredMessage& m) {
  if (row < 0 || row >= messages_.size()) return;
  messages_[row] = m;
  if (pending_row_ == row) pending_row_ = -1;
  emit dataChanged(index(row), index(row));
}

void MessageListModel::truncate(int first_row) {
  if (first_row < 0 || first_row >= messages_.size()) return;
  if (pending_row_ >= first_row) pending_row_ = -1;
  beginRemoveRows({}, first_row, int(messages_.size()) - 1);
  messages_.erase(messages_.begin() + first_row, messages_.end());
  endRemoveRows();
  emit countChanged();
}

QVariantMap MessageListModel::get(int row) const {
  QVariantMap out;
  if (row < 0 || row >= messages_.size()) return out;
  const auto names = roleNames();
  for (auto it = names.begin(); it != names.end(); ++it) out.insert(QString::fromLatin1(it.value()), data(index(row), it.key()));
  return out;
}

}  // namespace hlwq::ui
