import QtQuick
import HlwqChat
import QtQuick.Shapes
import QtQuick.Controls

// KV-cache bytes over the conversation: the current mode against what FP16 would take.
Item {
    id: root
    property var points: []   // [{context, bytes, fp16}]
    implicitHeight: 150
    Accessible.name: qsTr("KV cache size over the conversation")

    readonly property double maxX: {
        let m = 1
        for (let i = 0; i < points.length; ++i) m = Math.max(m, points[i].context)
        return m
    }
    readonly property double maxY: {
        let m = 1
        for (let i = 0; i < points.length; ++i) m = Math.max(m, points[i].fp16, points[i].bytes)
        return m * 1.1
    }
    readonly property int padL: 46
    readonly property int padB: 18
    function px(c) { return padL + (width - padL - 6) * c / maxX }
    function py(b) { return (height - padB) - (height - padB - 6) * b / maxY }
    function line(key) {
        let out = [Qt.point(px(0), py(0))]
        for (let i = 0; i < points.length; ++i) out.push(Qt.point(px(points[i].context), py(points[i][key])))
        return out
    }

    Rectangle { x: root.padL; y: 0; width: 1; height: root.height - root.padB; color: Theme.border }
    Rectangle { x: root.padL; y: root.height - root.padB; width: root.width - root.padL; height: 1; color: Theme.border }
    Repeater {
        model: 3
        Label {
            required property int index
            readonly property double v: root.maxY * (index + 1) / 3.3
            x: 0; width: root.padL - 6
            y: root.py(v) - height / 2
            horizontalAlignment: Text.AlignRight
            text: App.formatBytes(v)
            font.pixelSize: 9
            color: Theme.textMuted
        }
    }
    Label {
        anchors.right: parent.right
        anchors.bottom: parent.bottom
        text: qsTr("%1 tokens").arg(root.maxX)
        font.pixelSize: 9
        color: Theme.textMuted
    }

    Shape {
        anchors.fill: parent
        layer.enabled: true
        layer.samples: 4
        ShapePath {
            strokeColor: Theme.kvFp16
            strokeWidth: 2
            strokeStyle: ShapePath.DashLine
            fillColor: "transparent"
            PathPolyline { path: root.line("fp16") }
        }
        ShapePath {
            strokeColor: Theme.kvCurrent
            strokeWidth: 2.5
            fillColor: "transparent"
            PathPolyline { path: root.line("bytes") }
        }
    }
    Label {
        visible: root.points.length === 0
        anchors.centerIn: parent
        text: qsTr("Chat to see the KV cache grow")
        color: Theme.textMuted
        font.pixelSize: 11
    }
}
