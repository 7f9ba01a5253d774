// GraphiQL for /api/v1/graphql, served when the server runs with
// --graphql-playground true. The bundle (web/vendor/graphiql: GraphiQL 3
// and React 18, UMD builds, MIT) is embedded in the binary like the rest of
// web/: nothing loads from elsewhere. Credentials go in the Headers editor
// (an access token or an API key). GraphiQL keeps its tabs, history and
// headers in the storage it is given: here, memory, so no token outlives
// the page (GraphiQL 3 writes headers into its saved tabs even when told
// not to persist them).

const ENDPOINT = '/api/v1/graphql';

const DEFAULT_QUERY = `# roster's GraphQL API. Put a bearer token (an access token or an
# API key) in the Headers tab below, then run this with Ctrl-Enter.
query FirstUsers {
  me { email }
  users(first: 5) {
    edges { node { id email name roles groups { name } } }
    pageInfo { hasNextPage endCursor }
  }
}
`;

/** Posts one operation; the answer (data, errors, or a problem) as JSON. */
async function fetcher(params, options = {}) {
  const res = await fetch(ENDPOINT, {
    method: 'POST',
    headers: {
      Accept: 'application/json, application/problem+json',
      'Content-Type': 'application/json',
      ...(options.headers || {}),
    },
    body: JSON.stringify(params),
  });
  return res.json();
}

/** A Storage that forgets everything when the page goes. */
function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
    removeItem: (key) => items.delete(key),
    clear: () => items.clear(),
    get length() {
      return items.size;
    },
  };
}

const root = ReactDOM.createRoot(document.getElementById('graphiql'));
root.render(
  React.createElement(GraphiQL, {
    fetcher,
    storage: memoryStorage(),
    defaultQuery: DEFAULT_QUERY,
    defaultHeaders: '{\n  "Authorization": "Bearer "\n}',
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: 'headers',
  }),
);
