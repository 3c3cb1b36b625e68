// weirdgen's answer browser: filters the embedded answers and draws one page at a time.
// The data block holds one array per column (see weirdgen/report/browser.py); the filters
// live in the URL fragment, so a link can open the page already filtered. Every value is
// shown with textContent: answers are model output and never become markup.
(function () {
  "use strict";
  const MISSING = "(missing)";
  const PAGE_ROWS = 50;
  const SEVERAL = "\u0001"; // joins the values of a filter that keeps several, in a select
  const data = JSON.parse(document.getElementById("answers-data").textContent);
  const n = data.rows;
  const columns = new Map();
  for (const column of data.columns) {
    columns.set(column.name, prepare(column));
  }
  const state = { filters: new Map(), search: "", page: 0 };
  let matches = new Int32Array(n);
  let count = 0;

  function prepare(column) {
    if (column.codes) {
      column.codes = Int32Array.from(column.codes);
      column.numbers = column.numeric ? column.values.map(Number) : null;
      column.text = (i) => (column.codes[i] < 0 ? null : column.values[column.codes[i]]);
    } else if (column.numbers) {
      const numbers = Float64Array.from(column.numbers, (v) => (v === null ? NaN : v));
      column.at = numbers;
      column.text = (i) => (Number.isNaN(numbers[i]) ? null : String(numbers[i]));
    } else {
      column.text = (i) => column.texts[i];
    }
    return column;
  }

  // A filter is {values: Set of shown values (MISSING included) or null, low, high}.
  function parseHash() {
    state.filters = new Map();
    state.search = "";
    state.page = 0;
    for (const part of location.hash.replace(/^#/, "").split("&")) {
      if (!part) continue;
      const at = part.indexOf("=");
      const key = decodeURIComponent(at < 0 ? part : part.slice(0, at));
      const value = at < 0 ? "" : decodeURIComponent(part.slice(at + 1));
      if (key === "~search") state.search = value;
      else if (key === "~page") state.page = Math.max(0, (parseInt(value, 10) || 1) - 1);
      else if (columns.has(key)) addFilter(key, value);
    }
  }

  function addFilter(name, value) {
    const column = columns.get(name);
    const filter = state.filters.get(name) || { values: null, low: null, high: null };
    const range = /^(-?[\d.eE+-]*)\.\.(-?[\d.eE+-]*)$/.exec(value);
    if (range && column.numeric && value !== "..") {
      filter.low = range[1] === "" ? null : Number(range[1]);
      filter.high = range[2] === "" ? null : Number(range[2]);
    } else {
      filter.values = filter.values || new Set();
      filter.values.add(value);
    }
    state.filters.set(name, filter);
  }

  function writeHash() {
    const parts = [];
    const put = (key, value) =>
      parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
    for (const [name, filter] of state.filters) {
      for (const value of filter.values || []) put(name, value);
      if (filter.low !== null || filter.high !== null) {
        put(name, (filter.low ?? "") + ".." + (filter.high ?? ""));
      }
    }
    if (state.search) put("~search", state.search);
    if (state.page > 0) put("~page", String(state.page + 1));
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search);
  }

  // One test per filter, each a lookup in a table over the column's distinct values where
  // the column has them, so a pass over 100,000 rows is a few array reads per row.
  function compile(name, filter) {
    const column = columns.get(name);
    const inRange = (x) =>
      !Number.isNaN(x) &&
      (filter.low === null || x >= filter.low) &&
      (filter.high === null || x <= filter.high);
    const ranged = filter.low !== null || filter.high !== null;
    if (column.codes) {
      const size = column.values.length;
      const allowed = new Uint8Array(size + 1);
      for (let v = 0; v <= size; v++) {
        const shown = v === size ? MISSING : column.values[v];
        let keep = !filter.values || filter.values.has(shown);
        if (ranged) keep = keep && v < size && inRange(column.numbers[v]);
        allowed[v] = keep ? 1 : 0;
      }
      const codes = column.codes;
      return (i) => allowed[codes[i] < 0 ? size : codes[i]] === 1;
    }
    const wantsMissing = filter.values && filter.values.has(MISSING);
    if (column.at) {
      const at = column.at;
      return (i) => {
        const x = at[i];
        if (Number.isNaN(x)) return wantsMissing || (!filter.values && !ranged);
        return (!filter.values || filter.values.has(String(x))) && (!ranged || inRange(x));
      };
    }
    return (i) => {
      const text = column.texts[i];
      return filter.values ? filter.values.has(text === null ? MISSING : text) : true;
    };
  }

  function searchTest() {
    const needle = state.search.trim().toLowerCase();
    if (!needle) return null;
    const tests = data.search.map((name) => {
      const column = columns.get(name);
      if (column.codes) {
        const hit = Uint8Array.from(column.values, (v) => (v.toLowerCase().includes(needle) ? 1 : 0));
        const codes = column.codes;
        return (i) => codes[i] >= 0 && hit[codes[i]] === 1;
      }
      column.lower = column.lower || column.texts.map((t) => (t === null ? "" : t.toLowerCase()));
      const lower = column.lower;
      return (i) => lower[i].includes(needle);
    });
    return (i) => tests.some((test) => test(i));
  }

  function apply() {
    const tests = [...state.filters].map(([name, filter]) => compile(name, filter));
    const search = searchTest();
    if (search) tests.push(search);
    count = 0;
    outer: for (let i = 0; i < n; i++) {
      for (let t = 0; t < tests.length; t++) if (!tests[t](i)) continue outer;
      matches[count++] = i;
    }
    const pages = Math.max(1, Math.ceil(count / PAGE_ROWS));
    state.page = Math.min(state.page, pages - 1);
  }

  function render() {
    const status = document.getElementById("status");
    status.dataset.matching = String(count);
    status.textContent = `${count.toLocaleString("en")} of ${n.toLocaleString("en")} answers match`;
    const pages = Math.max(1, Math.ceil(count / PAGE_ROWS));
    const first = state.page * PAGE_ROWS;
    const last = Math.min(count, first + PAGE_ROWS);
    const pager = document.getElementById("pages");
    pager.replaceChildren(
      button("« first", state.page > 0, 0),
      button("‹ previous", state.page > 0, state.page - 1),
      text("span", count ? ` rows ${first + 1}–${last}, page ${state.page + 1} of ${pages} ` : " "),
      button("next ›", state.page < pages - 1, state.page + 1),
      button("last »", state.page < pages - 1, pages - 1),
    );
    const body = document.querySelector("#answers tbody");
    const rows = [];
    for (let k = first; k < last; k++) rows.push(row(matches[k]));
    body.replaceChildren(...rows);
  }

  function row(i) {
    const tr = document.createElement("tr");
    tr.dataset.row = String(i);
    for (const name of data.table) {
      const value = columns.get(name).text(i);
      const td = text("td", value === null ? "" : value);
      td.className = name === "answer" || name === "prompt" ? name : value === null ? "missing" : "";
      tr.append(td);
    }
    tr.addEventListener("click", () => toggleDetail(tr, i));
    return tr;
  }

  function toggleDetail(tr, i) {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("detail")) return next.remove();
    const list = document.createElement("dl");
    for (const name of columns.keys()) {
      const value = columns.get(name).text(i);
      list.append(text("dt", name), text("dd", value === null ? MISSING : value));
    }
    const cell = document.createElement("td");
    cell.colSpan = data.table.length;
    cell.append(list);
    const detail = document.createElement("tr");
    detail.className = "detail";
    detail.append(cell);
    tr.after(detail);
  }

  function text(tag, value) {
    const element = document.createElement(tag);
    element.textContent = value;
    return element;
  }

  function button(label, enabled, page) {
    const element = text("button", label);
    element.disabled = !enabled;
    element.addEventListener("click", () => {
      state.page = page;
      writeHash();
      render();
    });
    return element;
  }

  function buildControls() {
    const box = document.getElementById("filters");
    const search = document.createElement("input");
    search.type = "search";
    search.id = "search";
    search.placeholder = "search " + data.search.join(" and ");
    let timer = null;
    const searchNow = () => {
      clearTimeout(timer);
      if (search.value === state.search) return;
      state.search = search.value;
      state.page = 0;
      update();
    };
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(searchNow, 120); // wait for a pause in typing
    });
    search.addEventListener("change", searchNow);
    const groups = [
      ["rows", data.filters.filter((name) => !data.scores.includes(name))],
      ["scores", data.scores.filter((name) => data.filters.includes(name))],
    ];
    box.replaceChildren(labelled("search", search));
    for (const [title, names] of groups) {
      const fieldset = document.createElement("fieldset");
      fieldset.append(text("legend", title));
      for (const name of names) {
        const control = controlFor(columns.get(name));
        if (control) fieldset.append(control);
      }
      if (fieldset.children.length > 1) box.append(fieldset);
    }
    const clear = text("button", "clear filters");
    clear.id = "clear";
    clear.addEventListener("click", () => {
      state.filters = new Map();
      state.search = "";
      state.page = 0;
      update();
    });
    box.append(clear);
  }

  function controlFor(column) {
    const choices = column.values ? column.values.length + (column.missing ? 1 : 0) : 0;
    const parts = [];
    if ((column.values && choices > 1 && choices <= 500) || (column.at && column.missing)) {
      const select = document.createElement("select");
      select.name = column.name;
      select.addEventListener("change", () => {
        const filter = state.filters.get(column.name) || { low: null, high: null };
        filter.values = select.value === "" ? null : new Set(select.value.split(SEVERAL));
        setFilter(column.name, filter);
      });
      parts.push(select);
    }
    const scored = data.scores.includes(column.name);
    if (column.numeric && (column.at || scored || column.values.length > 2)) {
      const range = document.createElement("input");
      range.name = column.name + "..";
      range.className = "range";
      range.placeholder = "min..max";
      range.addEventListener("change", () => {
        const filter = state.filters.get(column.name) || { values: null };
        const match = /^\s*(-?[\d.eE+-]*)\s*\.\.\s*(-?[\d.eE+-]*)\s*$/.exec(range.value);
        filter.low = match && match[1] !== "" ? Number(match[1]) : null;
        filter.high = match && match[2] !== "" ? Number(match[2]) : null;
        range.classList.toggle("bad", range.value.trim() !== "" && !match);
        setFilter(column.name, filter);
      });
      parts.push(range);
    }
    if (!parts.length) return null;
    const wrapper = labelled(column.name, ...parts);
    wrapper.dataset.column = column.name;
    return wrapper;
  }

  function setFilter(name, filter) {
    const empty = !filter.values && filter.low === null && filter.high === null;
    if (empty) state.filters.delete(name);
    else state.filters.set(name, { values: null, low: null, high: null, ...filter });
    state.page = 0;
    update();
  }

  function labelled(title, ...controls) {
    const label = document.createElement("label");
    label.append(text("span", title), ...controls);
    return label;
  }

  // The controls show the state, whether it came from a control, a link or the URL.
  function syncControls() {
    document.getElementById("search").value = state.search;
    for (const wrapper of document.querySelectorAll("#filters label[data-column]")) {
      const column = columns.get(wrapper.dataset.column);
      const filter = state.filters.get(column.name);
      const select = wrapper.querySelector("select");
      if (select) {
        const options = [["", "(any)"]];
        for (const value of column.values || []) options.push([value, value]);
        if (column.missing) options.push([MISSING, MISSING]);
        const chosen = filter && filter.values ? [...filter.values] : [];
        if (chosen.length > 1) options.push([chosen.join(SEVERAL), chosen.join(" or ")]);
        select.replaceChildren(
          ...options.map(([value, shown]) => {
            const option = text("option", shown);
            option.value = value;
            return option;
          }),
        );
        select.value = chosen.length ? chosen.join(SEVERAL) : "";
      }
      const range = wrapper.querySelector("input.range");
      if (range) {
        const ranged = filter && (filter.low !== null || filter.high !== null);
        range.value = ranged ? (filter.low ?? "") + ".." + (filter.high ?? "") : "";
      }
    }
  }

  function update() {
    apply();
    writeHash();
    syncControls();
    render();
  }

  function drawHeader() {
    const head = document.createElement("tr");
    for (const name of data.table) head.append(text("th", name));
    document.querySelector("#answers thead").replaceChildren(head);
  }

  drawHeader();
  buildControls();
  parseHash();
  apply();
  syncControls();
  render();
  window.addEventListener("hashchange", () => {
    parseHash();
    apply();
    syncControls();
    render();
  });
  document.body.dataset.ready = "1";
})();
