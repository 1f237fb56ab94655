/*
 * Stand-in for OPNsense's widget manager (opnsense_widget_manager.js), for one widget: import the
 * module named in the widget's metadata, construct it, give it its translations, render
 * getMarkup() into a dashboard card titled with translations.title, call onMarkupRendered and
 * onWidgetResize, then onWidgetTick at once and every tickTimeout seconds.
 * window.mailpulseWidget exposes {ticks, lastError} so the test can wait for a finished tick.
 */
const meta = window.MAILPULSE_WIDGET;
const state = {ticks: 0, lastError: null};
window.mailpulseWidget = state;

const module = await import(`/ui/js/widgets/${meta.module}`);
const widget = new module.default({});
widget.setId('mailpulse');
widget.setTranslations(meta.translations);

const $card = $(`
    <div class="widget" id="widget-mailpulse">
        <div class="widget-header"><span class="widget-title"></span></div>
        <div class="widget-content"></div>
    </div>`);
$card.find('.widget-title').text(meta.translations.title || meta.module);
$card.find('.widget-content').append(widget.getMarkup());
$('#grid').append($card);

await widget.onMarkupRendered();
const content = $card.find('.widget-content')[0];
widget.onWidgetResize(content, content.clientWidth, content.clientHeight);

async function tick() {
    try {
        await widget.onWidgetTick();
        state.lastError = null;
    } catch (e) {
        // The real manager logs and carries on; keep it visible for the test.
        state.lastError = String(e && (e.textStatus || e.message) || e);
        console.error('widget tick failed', e);
    }
    state.ticks += 1;
}
state.tick = tick;
await tick();
setInterval(tick, (widget.tickTimeout || 10) * 1000);
