/*
 * Stand-in for OPNsense's $.fn.UIBootgrid (opnsense_bootgrid.js), reduced to what the mailpulse
 * events page uses: columns from the table's <thead> (data-column-id, data-formatter,
 * data-visible, data-width), one POST of {current, rowCount, sort, searchPhrase} as JSON to `search`, and
 * each row's cells drawn by the page's formatters, called as formatter(column, row) with
 * column = {id, visible} as OPNsense's compatibility layer does; a column without a formatter
 * shows its value as plain text. Unlike the real one it keeps the page's <table> (OPNsense swaps
 * it for a Tabulator grid) and draws no paging, search box or column picker.
 * Sets data-loaded="true" on the table when the rows are in (the test waits for it).
 */
$.fn.UIBootgrid = function (params) {
    const $table = this;
    const options = params.options || {};
    const formatters = options.formatters || {};
    const columns = [];
    $table.find('thead > tr').first().children('th').each(function () {
        const data = $(this).data();
        columns.push({
            id: data.columnId,
            formatter: data.formatter || null,
            visible: data.visible !== false
        });
        if (data.width !== undefined) {
            $(this).css('width', data.width);
        }
        if (data.visible === false) {
            $(this).hide();
        }
    });
    const rowCount = (options.rowCount || [7])[0];
    const request = {current: 1, rowCount: rowCount === true ? -1 : rowCount, sort: {}, searchPhrase: ''};
    $.ajax({
        type: 'POST',
        url: params.search,
        data: JSON.stringify(request),
        contentType: 'application/json;charset=utf8',
        dataType: 'json'
    }).done(function (response) {
        const $body = $table.find('tbody').empty();
        const rows = (response && response.rows) || [];
        for (const row of rows) {
            const $tr = $('<tr></tr>');
            for (const column of columns) {
                const $td = $('<td></td>').attr('data-column', column.id);
                if (!column.visible) {
                    $td.hide();
                }
                if (column.formatter && formatters[column.formatter]) {
                    $td.html(formatters[column.formatter]({id: column.id, visible: column.visible}, row));
                } else {
                    $td.text(row[column.id] == null ? '' : String(row[column.id]));
                }
                $tr.append($td);
            }
            $body.append($tr);
        }
        if (rows.length === 0) {
            $body.append($('<tr class="no-results"></tr>').append(
                $('<td></td>').attr('colspan', columns.length).text('No results found!')));
        }
        $table.attr('data-total', response ? response.total : 0);
        $table.attr('data-loaded', 'true');
    }).fail(function (xhr, textStatus) {
        $table.attr('data-loaded', 'error: ' + textStatus);
    });
    return $table;
};
