// The API client: the same /api/v1 every other client uses, with the signed-in caller's headers.
// The API sits beside the console: /console -> /api/v1/ (and /<stage>/console -> /<stage>/api/v1/).

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details ?? null;
  }
}

export function apiBase(href = location.href) {
  return new URL("api/v1/", href);
}

export function createApi(auth, onUnauthenticated) {
  const base = apiBase();

  async function call(method, path, body) {
    const headers = { Accept: "application/json", ...auth.headers() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(new URL(path.replace(/^\//, ""), base), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { error: { code: "bad_response", message: text.slice(0, 200) } };
    }
    if (!response.ok) {
      if (response.status === 401) onUnauthenticated();
      throw new ApiError(response.status, data);
    }
    return data;
  }

  return {
    get: (path) => call("GET", path),
    post: (path, body = {}) => call("POST", path, body),
    put: (path, body) => call("PUT", path, body),
  };
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const MAP_LISTS = ["anchors", "deleted_nodes", "ambiguous_steps", "changed_forks", "edited_steps"];

/** A plan with its whole transformation map and every warning. The plan carries the first page
 * of each (every response of the API stays within Lambda's 6 MB); the rest is read page by page. */
export async function readPlan(api, planId) {
  const id = encodeURIComponent(planId);
  const plan = await api.get(`migration-plans/${id}`);
  const tmap = { ...plan.transformation_map };
  for (let token = tmap.next_token; token; ) {
    const page = await api.get(`migration-plans/${id}/transformation-map${query({ next_token: token })}`);
    for (const name of MAP_LISTS) tmap[name] = [...tmap[name], ...page[name]];
    token = page.next_token;
  }
  const warnings = [...plan.summary.warnings];
  for (let token = plan.summary.warnings_next_token; token; ) {
    const page = await api.get(`migration-plans/${id}/warnings${query({ next_token: token })}`);
    warnings.push(...page.warnings);
    token = page.next_token;
  }
  return { ...plan, transformation_map: { ...tmap, next_token: null, next: null }, summary: { ...plan.summary, warnings } };
}
