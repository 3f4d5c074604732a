import QtQuick
import QtTest
import HlwqChat

// The whole window against App's fake engine: keyboard flow, streaming, stop, KV toggle.
TestCase {
    id: tc
    name: "MainWindow"
    when: windowShown
    width: 1280
    height: 820

    Component {
        id: mainComponent
        Main {}
    }

    function loadModel() {
        if (!App.models.loaded) App.models.load("/models/demo-27b")
        tryCompare(App.models, "loaded", true, 5000)
    }

    function test_1_opens_with_title() {
        const window = createTemporaryObject(mainComponent, null)
        verify(window !== null, "Main.qml failed to load")
        compare(window.title, "HLWQ Chat")
        verify(window.width >= 800)
        compare(window.page, "chat")
    }

    function test_2_enter_sends_shift_enter_breaks_line() {
        const window = createTemporaryObject(mainComponent, null)
        waitForRendering(window.contentItem)
        loadModel()
        const input = findChild(window.contentItem, "composerInput")
        verify(input)
        input.forceActiveFocus()
        input.text = "first line"
        input.cursorPosition = input.length
        keyClick(Qt.Key_Return, Qt.ShiftModifier, -1)
        compare(App.messages.count, 0, "Shift+Enter must not send")
        verify(input.text.indexOf("\n") > 0, "Shift+Enter inserts a newline")
        const before = App.messages.count
        keyClick(Qt.Key_Return)
        compare(App.messages.count, before + 2)
        compare(input.text, "")
        tryCompare(App.chat, "busy", false, 5000)
        const reply = App.messages.get(App.messages.count - 1)
        verify(reply.content.length > 0)
        verify(reply.thinking.length > 0)
        const list = findChild(window.contentItem, "conversationList")
        verify(list.count >= 1)
    }

    function test_3_escape_stops_and_ctrl_n_new_chat() {
        const window = createTemporaryObject(mainComponent, null)
        waitForRendering(window.contentItem)
        loadModel()
        App.chat.newChat()
        verify(App.chat.send("stop me"))
        verify(App.chat.busy)
        keyClick(Qt.Key_Escape)
        tryCompare(App.chat, "busy", false, 2000)
        compare(App.messages.get(1).state, "cancelled")
        const before = App.chat.currentChatId
        keyClick(Qt.Key_N, Qt.ControlModifier)
        verify(App.chat.currentChatId !== before)
        compare(App.messages.count, 0)
    }

    function test_4_kv_toggle_applies_live() {
        const window = createTemporaryObject(mainComponent, null)
        waitForRendering(window.contentItem)
        loadModel()
        verify(App.chat.send("grow the cache"))
        tryCompare(App.chat, "busy", false, 5000)
        const q4 = findChild(window.contentItem, "kvMode_q4")
        verify(q4)
        mouseClick(q4)
        tryCompare(App.stats, "kvMode", "q4", 3000)
        tryCompare(App.stats, "kvSwitching", false, 3000)
        App.stats.refresh()
        verify(App.stats.kvRatio > 3.5 && App.stats.kvRatio < 4.0, "Q4 is about 3.8x smaller than FP16: " + App.stats.kvRatio)
        verify(App.chat.send("keep chatting"))
        tryCompare(App.chat, "busy", false, 5000)
        compare(App.messages.get(App.messages.count - 1).kvMode, "q4")
        mouseClick(findChild(window.contentItem, "kvMode_fp16"))
        tryCompare(App.stats, "kvMode", "fp16", 3000)
    }

    function test_5_backend_label_says_cpu() {
        const window = createTemporaryObject(mainComponent, null)
        loadModel()
        const label = findChild(window.contentItem, "backendLabel")
        verify(label)
        verify(label.text.indexOf("CPU") === 0, label.text)
    }
}
