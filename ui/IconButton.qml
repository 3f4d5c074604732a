import QtQuick
import HlwqChat
import QtQuick.Controls

// A flat text/glyph button with a hover background and an accessible name.
Button {
    id: control
    property color fg: Theme.textMuted
    property bool primary: false
    flat: true
    padding: 6
    horizontalPadding: 10
    font.pixelSize: 13
    Accessible.name: text
    contentItem: Text {
        text: control.text
        font: control.font
        color: control.primary ? Theme.accentText : (control.enabled ? control.fg : Theme.border)
        horizontalAlignment: Text.AlignHCenter
        verticalAlignment: Text.AlignVCenter
        elide: Text.ElideRight
    }
    background: Rectangle {
        radius: 8
        color: control.primary ? (control.down ? Qt.darker(Theme.accent, 1.2) : Theme.accent)
                               : (control.down ? Theme.border : (control.hovered ? Theme.surfaceAlt : "transparent"))
        border.color: control.visualFocus ? Theme.accent : "transparent"
    }
}
