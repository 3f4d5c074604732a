import QtQuick
import HlwqChat
import QtQuick.Shapes
import QtQuick.Controls

// VRAM needed against context length, one line per KV mode, with the GPU's free memory as a
// horizontal line: where a mode's line crosses it is the largest context that fits.
Item {
    id: root
    property var curves: []      // [{mode, points:[{context, bytes}]}]
    property double free: 0
    property double total: 0
    implicitHeight: 260
    Accessible.name: qsTr("VRAM needed against context length per KV mode")
    readonly property var colors: ({ "fp16": "#868e96", "q4": "#5b6cff", "q3": "#22b8cf", "q2": "#9b7bff" })
    readonly property int padL: 60
    readonly property int padB: 24
    readonly property double minX: 1024
    readonly property double maxX: {
        let m = 2048
        for (const c of curves) for (const p of c.points) m = Math.max(m, p.context)
        return m
    }
    readonly property double maxY: {
        let m = Math.max(1, total)
        for (const c of curves) for (const p of c.points) m = Math.max(m, p.bytes)
        return Math.min(m, Math.max(total * 2, 1)) * 1.05
    }
    function px(c) { return padL + (width - padL - 8) * Math.log2(c / minX) / Math.log2(maxX / minX) }
    function py(b) { return Math.max(0, (height - padB) - (height - padB - 6) * b / maxY) }
    function line(points) { return points.map(p => Qt.point(px(p.context), py(p.bytes))) }

    Rectangle { x: root.padL; width: 1; height: root.height - root.padB; color: Theme.border }
    Rectangle { x: root.padL; y: root.height - root.padB; width: root.width - root.padL; height: 1; color: Theme.border }
    Repeater {
        model: 4
        Label {
            required property int index
            readonly property double v: root.maxY * (index + 1) / 4.2
            width: root.padL - 6; horizontalAlignment: Text.AlignRight
            y: root.py(v) - height / 2
            text: App.formatBytes(v); font.pixelSize: 9; color: Theme.textMuted
        }
    }
    Repeater {
        model: {
            let ticks = []
            for (let c = root.minX; c <= root.maxX; c *= 4) ticks.push(c)
            return ticks
        }
        Label {
            required property var modelData
            x: root.px(modelData) - width / 2
            y: root.height - root.padB + 4
            text: modelData >= 1024 ? (modelData / 1024) + "K" : modelData
            font.pixelSize: 9; color: Theme.textMuted
        }
    }
    // Free memory on the card.
    Rectangle {
        visible: root.free > 0
        x: root.padL; width: root.width - root.padL
        y: root.py(root.free); height: 2
        color: Theme.danger
        opacity: 0.8
        Label { anchors.right: parent.right; anchors.bottom: parent.top; text: qsTr("free %1").arg(App.formatBytes(root.free))
                font.pixelSize: 10; color: Theme.danger }
    }
    function curve(mode) {
        for (const c of curves) if (c.mode === mode) return line(c.points)
        return []
    }
    Shape {
        anchors.fill: parent
        layer.enabled: true
        layer.samples: 4
        ShapePath { strokeColor: root.colors.fp16; strokeWidth: 2.5; fillColor: "transparent"; PathPolyline { path: root.curve("fp16") } }
        ShapePath { strokeColor: root.colors.q4; strokeWidth: 2.5; fillColor: "transparent"; PathPolyline { path: root.curve("q4") } }
        ShapePath { strokeColor: root.colors.q3; strokeWidth: 2.5; fillColor: "transparent"; PathPolyline { path: root.curve("q3") } }
        ShapePath { strokeColor: root.colors.q2; strokeWidth: 2.5; fillColor: "transparent"; PathPolyline { path: root.curve("q2") } }
    }
}
