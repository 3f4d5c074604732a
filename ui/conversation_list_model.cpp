#include "conversation_list_model.h"

#include <QDateTime>

namespace hlwq::ui {

ConversationListModel::ConversationListModel(app::ChatStore* store, QObject* parent)
    : QAbstractListModel(parent), store_(store) {
  refresh();
}

int ConversationListModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(chats_.size()); }

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= chats_.size()) return {};
  const auto& c = chats_[index.row()];
  switch (role) {
    case IdRole: return c.id;
    case Qt::DisplayRole:
    case TitleRole: return c.title;
    case SystemPromptRole: return c.system_prompt;
    case UpdatedRole: return QDateTime::fromMSecsSinceEpoch(c.updated_ms);
  }
  return {};
}

QHash<int, QByteArray> ConversationListModel::roleNames() const {
  return {{IdRole, "chatId"}, {TitleRole, "title"}, {SystemPromptRole, "systemPrompt"}, {UpdatedRole, "updated"}};
}

void ConversationListModel::setSearch(const QString& s) {
  if (s == search_) return;
  search_ = s;
  emit searchChanged();
  refresh();
}

void ConversationListModel::refresh() {
  beginResetModel();
  chats_ = store_->chats(search_);
  endResetModel();
  emit countChanged();
}

int ConversationListModel::rowOf(qint64 id) const {
  for (int i = 0; i < chats_.size(); ++i)
    if (chats_[i].id == id) return i;
  return -1;
}

qint64 ConversationListModel::idAt(int row) const { return row >= 0 && row < chats_.size() ? chats_[row].id : 0; }

}  // namespace hlwq::ui
