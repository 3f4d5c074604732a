#pragma once
// The sidebar: every chat, newest first, filtered by the search box.
#include <QAbstractListModel>
#include <QtQml/qqmlregistration.h>

#include "chat_store.h"

namespace hlwq::ui {

class ConversationListModel : public QAbstractListModel {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("owned by App")
  Q_PROPERTY(QString search READ search WRITE setSearch NOTIFY searchChanged)
  Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
 public:
  enum Role { IdRole = Qt::UserRole + 1, TitleRole, SystemPromptRole, UpdatedRole };
  ConversationListModel(app::ChatStore* store, QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  QString search() const { return search_; }
  void setSearch(const QString& s);
  Q_INVOKABLE void refresh();
  Q_INVOKABLE int rowOf(qint64 id) const;
  Q_INVOKABLE qint64 idAt(int row) const;

 signals:
  void searchChanged();
  void countChanged();

 private:
  app::ChatStore* store_;
  QString search_;
  QList<app::StoredChat> chats_;
};

}  // namespace hlwq::ui
