/* vidlens search page: vanilla JS, no build step.
 *
 * Talks to the JSON API of the same server. With a token-protected server the token comes from
 * the page's #token=... fragment (never sent to the server, so it stays out of logs) or from a
 * prompt, is kept in sessionStorage, sent as a Bearer header to the API and as ?token= on the
 * <img>/<video> URLs, which cannot carry headers.
 */
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STRIP_W = 1000;
  const MAX_CHIPS = 6;
  const TOKEN_KEY = "vidlens-token";

  const $ = (sel) => document.querySelector(sel);
  const el = {
    form: $("#search-form"),
    q: $("#q"),
    options: $("#options"),
    not: $("#opt-not"),
    topK: $("#opt-top-k"),
    minScore: $("#opt-min-score"),
    status: $("#library-status"),
    tokenForm: $("#token-form"),
    tokenInput: $("#token-input"),
    panel: $("#player-panel"),
    video: $("#player"),
    playerTitle: $("#player-title"),
    playerMoment: $("#player-moment"),
    playerStrip: $("#player-strip"),
    playerMoments: $("#player-moments"),
    playerClose: $("#player-close"),
    message: $("#message"),
    heading: $("#results-heading"),
    notes: $("#search-notes"),
    results: $("#results"),
    likeBar: $("#like-bar"),
    likeThumb: $("#like-thumb"),
    likeText: $("#like-text"),
    likeName: $("#like-name"),
    likeTime: $("#like-time"),
    likeClear: $("#like-clear"),
  };

  const state = {
    token: null,
    info: null,
    query: "",
    // "More like this": {ref: "VIDEO_ID@SECONDS" as sent, videoId, at, name, thumb} or null
    like: null,
    lastText: "", // the last text-only search, which "Back to text search" returns to
    names: new Map(), // video_id -> file name, from results seen
    hits: [],
    active: null, // {hit, index (moment index or null), start}
    range: null, // {lo, hi}: the similarity scale shared by the strips of one result list
    topMoment: 0, // best moment score of the result list: a band of that score is drawn solid
    pendingSeek: null,
    controller: null,
  };

  // ------------------------------------------------------------------ helpers
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function s(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function fmtTime(sec) {
    if (!Number.isFinite(sec)) return "–";
    const neg = sec < 0;
    let t = Math.abs(sec);
    const hours = Math.floor(t / 3600);
    t -= hours * 3600;
    const mins = Math.floor(t / 60);
    t -= mins * 60;
    const whole = Math.floor(t);
    const tenth = Math.round((t - whole) * 10);
    let secs = String(whole).padStart(2, "0");
    if (tenth > 0 && tenth < 10) secs += "." + tenth;
    const body = hours ? `${hours}:${String(mins).padStart(2, "0")}:${secs}` : `${mins}:${secs}`;
    return (neg ? "-" : "") + body;
  }

  function fmtDuration(sec) {
    if (sec < 60) return `${Math.round(sec)} s`;
    if (sec < 3600) return `${Math.round(sec / 60)} min`;
    return `${(sec / 3600).toFixed(1)} h`;
  }

  function withToken(url) {
    if (!state.token) return url;
    const u = new URL(url, location.origin);
    u.searchParams.set("token", state.token);
    return u.pathname + u.search;
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, params, signal) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
    }
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    let resp;
    try {
      resp = await fetch(url, { headers, signal });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network",
        "Cannot reach the vidlens server. Is `vidlens serve` still running?");
    }
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      body = null;
    }
    if (!resp.ok) {
      const e = (body && body.error) || {};
      throw new ApiError(resp.status, e.code || `http_${resp.status}`,
        e.message || `The server answered ${resp.status} ${resp.statusText}.`);
    }
    return body;
  }

  // ------------------------------------------------------------------ messages
  function hideMessage() {
    el.message.hidden = true;
    el.message.replaceChildren();
    el.message.className = "message";
  }

  function showMessage(kind, title, ...body) {
    el.message.className = `message message-${kind}`;
    const icon = { empty: "○", error: "!", info: "i", library: "+" }[kind] || "i";
    el.message.replaceChildren(
      h("div", { class: "message-icon", "aria-hidden": "true", text: icon }),
      h("div", { class: "message-text" }, h("h2", { text: title }), ...body),
    );
    el.message.hidden = false;
  }

  function codeLine(text) {
    return h("pre", { class: "command" }, h("code", { text }));
  }

  function showEmptyLibrary(libraryPath, detail) {
    clearResults();
    const where = libraryPath || "LIBRARY";
    showMessage("library", "No videos yet",
      h("p", { text: detail || "Index a folder of videos, then search it here:" }),
      codeLine(`vidlens index VIDEOS --library ${where}`),
      h("p", { class: "muted", text: "New videos appear here as soon as indexing commits them." }));
  }

  function showError(err, what) {
    if (err.status === 401) {
      showTokenForm(state.token ? "That token was not accepted." : null);
      return;
    }
    if (err.code === "no_library") {
      showEmptyLibrary(null, err.message);
      return;
    }
    clearResults();
    const hint = err.status >= 500 || err.status === 0
      ? "If this keeps happening, check the terminal where vidlens serve runs."
      : "Change the search and try again.";
    showMessage("error", what, h("p", { text: err.message }), h("p", { class: "muted", text: hint }));
  }

  function showTokenForm(problem) {
    clearResults();
    hideMessage();
    el.status.textContent = problem || "";
    el.tokenForm.hidden = false;
    el.tokenInput.focus();
  }

  // ------------------------------------------------------------------ library info
  async function loadInfo() {
    try {
      state.info = await api("/api/info");
    } catch (err) {
      state.info = null;
      el.status.textContent = "";
      if (err.code === "no_library") showEmptyLibrary(null, err.message);
      else showError(err, "Cannot open the library");
      return null;
    }
    const i = state.info;
    const parts = [`${i.videos} video${i.videos === 1 ? "" : "s"}`];
    if (i.videos) parts.push(`${fmtDuration(i.seconds)} of footage`);
    parts.push(i.encoder.id);
    if (i.failed.length) parts.push(`${i.failed.length} could not be indexed`);
    el.status.textContent = parts.join(" · ");
    el.status.title = i.library;
    return i;
  }

  // ------------------------------------------------------------------ more like this
  // The API takes like=VIDEO_ID@SECONDS and searches by the stored frame nearest that time; a
  // card's button sends the frame its thumbnail shows (best_time_s).
  function makeLike(ref, hit) {
    const at = ref.lastIndexOf("@");
    const videoId = at > 0 ? ref.slice(0, at) : ref;
    return {
      ref, videoId, at: at > 0 ? Number(ref.slice(at + 1)) : NaN,
      name: hit ? hit.name : state.names.get(videoId) || null,
      thumb: hit ? hit.thumbnail_url : null,
    };
  }

  function likeName(like) {
    return like.name || `video ${like.videoId.slice(0, 8)}…`;
  }

  function likeWords(like) {
    return `${likeName(like)} at ${fmtTime(like.at)}`;
  }

  function showLikeBar() {
    const like = state.like;
    el.likeBar.hidden = !like;
    if (!like) return;
    el.likeName.textContent = likeName(like);
    el.likeName.title = like.videoId;
    el.likeTime.textContent = fmtTime(like.at);
    if (like.thumb) {
      el.likeThumb.src = withToken(like.thumb);
      el.likeThumb.hidden = false;
    } else {
      el.likeThumb.removeAttribute("src");
      el.likeThumb.hidden = true;
    }
  }

  // After a like search: the name and picture of the source video, from its own result (it
  // ranks first, its best frame the one asked for) or, failing that, from its metadata.
  async function resolveLike(like, hits) {
    const own = hits.find((hit) => hit.video_id === like.videoId);
    if (own) {
      like.name = like.name || own.name;
      like.thumb = like.thumb || own.thumbnail_url;
    } else if (!like.name && /^[0-9a-f]{32}$/.test(like.videoId)) {
      try {
        like.name = (await api(`/api/videos/${like.videoId}`)).name;
      } catch (_) {
        return; // the id shows instead
      }
    }
    if (state.like === like) showLikeBar();
  }

  function searchLike(hit) {
    state.like = makeLike(`${hit.video_id}@${hit.best_time_s}`, hit);
    el.q.value = ""; // the frame alone is the query
    runSearch("", true);
    window.scrollTo({ top: 0 });
    el.likeText.focus({ preventScroll: true }); // the card and its button are being replaced
  }

  function clearLike() {
    state.like = null;
    showLikeBar();
    const q = el.q.value.trim() || state.lastText;
    el.q.value = q;
    if (q) {
      runSearch(q, true);
    } else {
      history.pushState(null, "", location.pathname);
      document.title = "vidlens";
      if (state.controller) state.controller.abort();
      clearResults();
      hideMessage();
    }
    el.q.focus();
  }

  // ------------------------------------------------------------------ search
  function readOptions() {
    const topK = parseInt(el.topK.value, 10);
    const minScore = el.minScore.value.trim();
    return {
      not: el.not.value.trim(),
      top_k: Number.isFinite(topK) ? Math.min(Math.max(topK, 1), 100) : 12,
      min_score: minScore === "" ? "" : minScore,
    };
  }

  function clearResults() {
    el.results.replaceChildren();
    el.results.removeAttribute("aria-busy");
    el.heading.hidden = true;
    showNotes([]);
  }

  // What the server says the answer may get wrong (e.g. a query longer than the model reads).
  function showNotes(notes) {
    el.notes.replaceChildren(...notes.map((text) => h("p", { text })));
    el.notes.hidden = !notes.length;
  }

  function showSkeleton() {
    hideMessage();
    showNotes([]);
    el.heading.hidden = true;
    el.results.setAttribute("aria-busy", "true");
    const cards = [];
    for (let i = 0; i < 6; i++) {
      cards.push(h("li", { class: "card skeleton", "aria-hidden": "true" },
        h("div", { class: "thumb" }), h("div", { class: "card-body" },
          h("div", { class: "sk-line" }), h("div", { class: "sk-line short" }),
          h("div", { class: "sk-strip" }))));
    }
    el.results.replaceChildren(...cards);
  }

  async function runSearch(query, push) {
    const q = query.trim();
    const like = state.like;
    if (!q && !like) {
      el.q.focus();
      return;
    }
    const opts = readOptions();
    if (push) {
      const params = new URLSearchParams();
      if (q) params.set("q", q);
      if (like) params.set("like", like.ref);
      if (opts.not) params.set("not", opts.not);
      if (opts.min_score !== "") params.set("min_score", opts.min_score);
      if (opts.top_k !== 12) params.set("top_k", String(opts.top_k));
      history.pushState(null, "", `?${params}`);
    }
    document.title = like ? `Like ${likeName(like)} · vidlens` : `${q} · vidlens`;
    showLikeBar();
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    showSkeleton();
    let data;
    try {
      data = await api("/api/search",
        { q, like: like ? like.ref : "", ...opts, curve: "true" }, controller.signal);
    } catch (err) {
      if (err.name === "AbortError") return;
      showError(err, "Search failed");
      return;
    } finally {
      if (state.controller === controller) state.controller = null;
    }
    state.query = q;
    if (!like) state.lastText = q;
    state.hits = data.results;
    for (const hit of data.results) state.names.set(hit.video_id, hit.name);
    if (like) resolveLike(like, data.results).then(() => {
      const shown = state.like === like && state.hits === data.results && data.results.length;
      if (shown) renderHeading(data.results.length);
    });
    if (!data.results.length) {
      const info = await loadInfo();
      if (info && info.videos === 0) {
        showEmptyLibrary(info.library);
      } else if (info) {
        clearResults();
        const tips = opts.min_score !== "" || opts.not
          ? "Lower the minimum score or clear the exclusion under Options, or try other words."
          : "Try other words.";
        const what = like ? `moments like ${likeWords(like)}${q ? ` and “${q}”` : ""}` : `“${q}”`;
        showMessage("empty", `No matches for ${what}`, h("p", { text: tips }));
        showNotes(data.warnings || []);
      }
      return;
    }
    hideMessage();
    renderResults(data);
    showNotes(data.warnings || []);
  }

  function curveRange(hits) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const hit of hits) {
      for (const v of curvePoints(hit).y) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (!Number.isFinite(lo)) return null;
    return { lo: Math.min(lo, hi - 0.05), hi };
  }

  function renderResults(data) {
    state.range = curveRange(data.results);
    state.topMoment = Math.max(0, ...data.results.flatMap((hit) => hit.moments.map((m) => m[2])));
    renderHeading(data.results.length);
    el.results.removeAttribute("aria-busy");
    el.results.replaceChildren(...data.results.map((hit, rank) => card(hit, rank)));
    applyActive();
  }

  function renderHeading(n) {
    const videos = `${n} video${n === 1 ? "" : "s"}`;
    const like = state.like;
    el.heading.textContent = like
      ? `${videos} like ${likeWords(like)}${state.query ? ` and “${state.query}”` : ""}`
      : `${videos} for “${state.query}”`;
    el.heading.hidden = false;
  }

  // ------------------------------------------------------------------ cards
  function card(hit, rank) {
    // The thumbnail is the best-matching frame (best_frame, shown at best_time_s), so its time
    // badge and its click use that time: the picture, the badge and what plays agree. The
    // moment chips below play moments from their starts.
    const at = hit.best_time_s;
    const inMoment = hit.moments.findIndex((m) => m[0] <= at && at <= m[1]);
    const img = h("img", {
      src: withToken(hit.thumbnail_url), alt: "", loading: rank < 8 ? "eager" : "lazy",
      decoding: "async", width: 320, height: 180,
    });
    img.addEventListener("error", () => img.classList.add("broken"), { once: true });
    const thumb = h("button", {
      type: "button", class: "thumb",
      "aria-label": `Play ${hit.name} from ${fmtTime(at)}, its best-matching frame`,
      onclick: () => play(hit, inMoment >= 0 ? inMoment : null, at),
    }, img,
    h("span", { class: "badge badge-rank", text: `#${rank + 1}` }),
    h("span", { class: "badge badge-time", title: "Time of this frame", text: fmtTime(at) }),
    h("span", { class: "play-icon", "aria-hidden": "true" }));
    const nMoments = hit.moments.length;
    return h("li", { class: "card", "data-video-id": hit.video_id },
      thumb,
      h("div", { class: "card-body" },
        h("div", { class: "card-title-row" },
          h("h3", { class: "card-title", title: hit.path, text: hit.name }),
          h("span", { class: "score", title: "Similarity score", text: hit.score.toFixed(3) })),
        h("p", { class: "card-sub", text:
          `${fmtTime(hit.duration_s)} · ${nMoments} moment${nMoments === 1 ? "" : "s"}` }),
        stripFor(hit, false),
        chipsFor(hit, MAX_CHIPS),
        h("button", {
          type: "button", class: "more-like",
          "aria-label": `More like this: moments like ${hit.name} at ${fmtTime(at)}`,
          title: `Find moments that look like ${hit.name} at ${fmtTime(at)}`,
          onclick: () => searchLike(hit),
        }, moreLikeIcon(), h("span", { text: "More like this" }))));
  }

  function moreLikeIcon() {
    // two overlapping frames
    const svg = s("svg", { viewBox: "0 0 24 24", "aria-hidden": "true" });
    svg.append(s("rect", { x: 3, y: 7, width: 12, height: 10, rx: 2 }));
    svg.append(s("path", { d: "M9 7V5a2 2 0 0 1 2-2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2h-4" }));
    return svg;
  }

  function chipsFor(hit, max) {
    const group = h("div", { class: "moments", role: "group", "aria-label": `Moments in ${hit.name}` });
    hit.moments.slice(0, max).forEach((m, i) => {
      group.append(h("button", {
        type: "button", class: "moment", "aria-pressed": "false",
        "data-video-id": hit.video_id, "data-index": i, "data-start": m[0], "data-end": m[1],
        "aria-label": `Play ${hit.name} from ${fmtTime(m[0])} to ${fmtTime(m[1])}, score ${m[2].toFixed(2)}`,
        onclick: () => play(hit, i, m[0]),
      }, h("span", { class: "moment-time", text: `${fmtTime(m[0])}–${fmtTime(m[1])}` }),
      h("span", { class: "moment-score", text: m[2].toFixed(2) })));
    });
    if (hit.moments.length > max) {
      group.append(h("span", { class: "more", text: `+${hit.moments.length - max} more` }));
    }
    if (!hit.moments.length) group.append(h("span", { class: "more", text: "no distinct moment" }));
    return group;
  }

  function curvePoints(hit) {
    if (hit.curve && hit.curve.times_s.length) {
      return { t: hit.curve.times_s, y: hit.curve.similarity };
    }
    const clip = 2.0; // QVHighlights saliency clips
    return { t: hit.saliency.map((_, i) => i * clip + clip / 2), y: hit.saliency };
  }

  function stripFor(hit, large) {
    const H = large ? 72 : 40;
    const dur = hit.duration_s > 0 ? hit.duration_s : 1;
    const x = (t) => Math.max(0, Math.min(STRIP_W, (t / dur) * STRIP_W));
    const svg = s("svg", {
      viewBox: `0 0 ${STRIP_W} ${H}`, preserveAspectRatio: "none", class: "strip-svg",
      role: "img",
      "aria-label": `How well ${hit.name} matches over time; ${hit.moments.length} moments marked`,
    });
    svg.append(s("rect", { x: 0, y: 0, width: STRIP_W, height: H, class: "strip-bg" }));
    // the best moment of the whole result list sets full strength, as the curves share a scale
    const topScore = Math.max(1e-9, state.topMoment || 0, ...hit.moments.map((m) => m[2]));
    hit.moments.forEach((m, i) => {
      // weak moments are drawn faint so the strong ones stand out
      const strength = Math.max(0.2, Math.min(1, m[2] / topScore));
      const band = s("rect", {
        x: x(m[0]), y: 0, width: Math.max(x(m[1]) - x(m[0]), 4), height: H,
        class: "band", "data-index": i, "fill-opacity": strength.toFixed(2),
      });
      const title = s("title", {});
      title.textContent = `${fmtTime(m[0])}–${fmtTime(m[1])} (score ${m[2].toFixed(2)})`;
      band.append(title);
      band.addEventListener("click", (ev) => {
        ev.stopPropagation();
        play(hit, i, m[0]);
      });
      svg.append(band);
    });
    const { t, y } = curvePoints(hit);
    if (t.length) {
      // one scale for every result, so a strip shows how well this video matches compared
      // with the others; a flat curve stays flat instead of amplified noise
      const { lo, hi } = state.range || { lo: Math.min(...y), hi: Math.max(...y) + 0.05 };
      const pad = 3;
      const yy = (v) => H - pad - ((v - lo) / (hi - lo)) * (H - 2 * pad);
      const pts = t.map((ti, i) => `${x(ti).toFixed(1)},${yy(y[i]).toFixed(1)}`);
      const first = x(t[0]).toFixed(1);
      const last = x(t[t.length - 1]).toFixed(1);
      svg.append(s("path", { d: `M${first},${H} L${pts.join(" L")} L${last},${H} Z`, class: "curve-area" }));
      svg.append(s("path", { d: `M${pts.join(" L")}`, class: "curve-line", "vector-effect": "non-scaling-stroke" }));
    }
    svg.append(s("line", {
      x1: 0, x2: 0, y1: 0, y2: H, class: "playhead", "vector-effect": "non-scaling-stroke",
    }));
    svg.addEventListener("click", (ev) => {
      const box = svg.getBoundingClientRect();
      const at = ((ev.clientX - box.left) / box.width) * dur;
      play(hit, null, Math.max(0, Math.min(at, dur)));
    });
    return h("div", { class: large ? "strip strip-large" : "strip", "data-video-id": hit.video_id },
      svg, h("div", { class: "strip-axis", "aria-hidden": "true" },
        h("span", { text: "0:00" }), h("span", { text: fmtTime(hit.duration_s) })));
  }

  // ------------------------------------------------------------------ playing
  function applyActive() {
    const a = state.active;
    document.querySelectorAll(".moment").forEach((b) => {
      const on = !!a && a.index !== null && b.dataset.videoId === a.hit.video_id
        && Number(b.dataset.index) === a.index;
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    document.querySelectorAll(".strip").forEach((strip) => {
      const mine = !!a && strip.dataset.videoId === a.hit.video_id;
      strip.classList.toggle("is-playing", mine);
      strip.querySelectorAll(".band").forEach((band) => {
        band.classList.toggle("active", mine && a.index !== null && Number(band.dataset.index) === a.index);
      });
    });
    document.querySelectorAll(".card").forEach((c) => {
      c.classList.toggle("is-playing", !!a && c.dataset.videoId === a.hit.video_id);
    });
  }

  function play(hit, index, start) {
    state.active = { hit, index, start };
    el.panel.hidden = false;
    el.playerTitle.textContent = hit.name;
    el.playerTitle.title = hit.path;
    if (index !== null) {
      const m = hit.moments[index];
      el.playerMoment.textContent =
        `Moment ${index + 1} of ${hit.moments.length}: ${fmtTime(m[0])}–${fmtTime(m[1])} · score ${m[2].toFixed(3)}`;
    } else {
      el.playerMoment.textContent = `From ${fmtTime(start)} of ${fmtTime(hit.duration_s)}`;
    }
    const strip = stripFor(hit, true);
    strip.id = "player-strip";
    el.playerStrip.replaceWith(strip);
    el.playerStrip = strip;
    const chips = chipsFor(hit, 50);
    chips.id = "player-moments";
    el.playerMoments.replaceWith(chips);
    el.playerMoments = chips;
    applyActive();
    if (el.video.dataset.videoId !== hit.video_id) {
      el.video.dataset.videoId = hit.video_id;
      state.pendingSeek = start;
      el.video.src = `${withToken(hit.media_url)}#t=${start.toFixed(3)}`;
    } else if (el.video.readyState >= 1) {
      seekAndPlay(start);
    } else {
      state.pendingSeek = start;
    }
    const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    el.panel.scrollIntoView({ block: "nearest", behavior: smooth ? "smooth" : "auto" });
  }

  function seekAndPlay(t) {
    el.video.currentTime = t;
    const p = el.video.play();
    if (p && p.catch) p.catch(() => { /* autoplay refused: the controls are there */ });
  }

  el.video.addEventListener("loadedmetadata", () => {
    if (state.pendingSeek !== null) {
      const t = state.pendingSeek;
      state.pendingSeek = null;
      seekAndPlay(t);
    }
  });

  el.video.addEventListener("timeupdate", () => {
    const a = state.active;
    if (!a) return;
    const dur = a.hit.duration_s > 0 ? a.hit.duration_s : 1;
    const px = Math.max(0, Math.min(STRIP_W, (el.video.currentTime / dur) * STRIP_W)).toFixed(1);
    document.querySelectorAll(".strip.is-playing .playhead").forEach((line) => {
      line.setAttribute("x1", px);
      line.setAttribute("x2", px);
    });
  });

  el.video.addEventListener("error", async () => {
    const a = state.active;
    if (!a || !el.video.getAttribute("src")) return;
    let why = "Your browser cannot play this file's format.";
    try {
      const headers = { Range: "bytes=0-0" };
      if (state.token) headers.Authorization = `Bearer ${state.token}`;
      const resp = await fetch(a.hit.media_url, { headers });
      if (!resp.ok) {
        const body = await resp.json().catch(() => null);
        if (body && body.error) why = body.error.message;
      }
    } catch (_) {
      why = "Cannot reach the vidlens server.";
    }
    el.playerMoment.textContent = `Cannot play ${a.hit.name}: ${why}`;
    el.playerMoment.classList.add("error");
  });

  el.video.addEventListener("loadstart", () => el.playerMoment.classList.remove("error"));

  el.playerClose.addEventListener("click", () => {
    el.video.pause();
    el.video.removeAttribute("src");
    delete el.video.dataset.videoId;
    el.video.load();
    el.panel.hidden = true;
    state.active = null;
    applyActive();
  });

  // ------------------------------------------------------------------ wiring
  function loadFromUrl() {
    const p = new URLSearchParams(location.search);
    el.q.value = p.get("q") || "";
    const ref = p.get("like");
    state.like = ref ? (state.like && state.like.ref === ref ? state.like : makeLike(ref)) : null;
    showLikeBar();
    el.not.value = p.get("not") || "";
    el.minScore.value = p.get("min_score") || "";
    // the box shows what is sent: a hand-edited URL asking for more than the page lists is clamped
    const topK = parseInt(p.get("top_k") || "12", 10);
    el.topK.value = String(Number.isFinite(topK) ? Math.min(Math.max(topK, 1), 100) : 12);
    if (el.not.value || el.minScore.value || el.topK.value !== "12") el.options.open = true;
    return el.q.value;
  }

  el.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (el.q.value.trim()) state.like = null; // a new text query replaces "more like this"
    runSearch(el.q.value, true);
  });

  el.likeClear.addEventListener("click", clearLike);
  el.likeThumb.addEventListener("error", () => { el.likeThumb.hidden = true; });

  for (const input of [el.not, el.topK, el.minScore]) {
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        runSearch(el.q.value, true);
      }
    });
  }

  window.addEventListener("popstate", () => {
    const q = loadFromUrl();
    if (q || state.like) runSearch(q, false);
    else {
      clearResults();
      hideMessage();
    }
  });

  document.addEventListener("keydown", (ev) => {
    const typing = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement;
    if (ev.key === "/" && !typing) {
      ev.preventDefault();
      el.q.focus();
      el.q.select();
    } else if (ev.key === "Escape" && !el.panel.hidden && !typing) {
      el.playerClose.click();
    }
  });

  el.tokenForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = el.tokenInput.value.trim();
    if (!t) return;
    state.token = t;
    sessionStorage.setItem(TOKEN_KEY, t);
    el.tokenForm.hidden = true;
    el.tokenInput.value = "";
    start();
  });

  function readToken() {
    const m = location.hash.match(/(?:^#|&)token=([^&]*)/);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    state.token = sessionStorage.getItem(TOKEN_KEY);
  }

  async function start() {
    const info = await loadInfo();
    if (!info) return;
    const q = loadFromUrl();
    if (q || state.like) runSearch(q, false);
    else if (info.videos === 0) showEmptyLibrary(info.library);
    else el.q.focus();
  }

  readToken();
  start();
})();
