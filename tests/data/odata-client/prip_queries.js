// What a user of the generic OData V4 client @odata/client does with a PRIP: a filtered,
// ordered, counted search built with the library's filter builder and query options, every page
// of it through $skip (the library builds it; it does not follow @odata.nextLink), one product by
// its key through the entity-set API, and a $select. Prints one JSON report on stdout, with every
// request the library sent and the status it got ("requests").
// Arguments: serviceEndpoint startIso endIso pageSize productId productName.
// Environment: PRIP_USERNAME, PRIP_PASSWORD (HTTP Basic, the library's `credential`).
// Used by tests/clients/test_odata_client.py.
"use strict";
const { OData, EdmV4, defaultProxy } = require("@odata/client");

const [serviceEndpoint, startIso, endIso, pageArg, productId, productName] = process.argv.slice(2);
const page = Number(pageArg);
const requests = [];

// The library's own fetch, recorded (URL as sent, status answered).
async function recordingFetch(url, init) {
  const result = await defaultProxy(url, init);
  requests.push({ method: init.method, url, status: result.response.status });
  return result;
}

const client = OData.New4({
  serviceEndpoint,
  credential: { username: process.env.PRIP_USERNAME, password: process.env.PRIP_PASSWORD },
  fetchProxy: recordingFetch,
});
const products = client.getEntitySet("Products");

// January: the builder groups two comparisons of one property with "and".
function january() {
  return client.newFilter()
    .field("ContentDate/Start").ge(EdmV4.DateTimeOffset.from(new Date(startIso)))
    .field("ContentDate/Start").lt(EdmV4.DateTimeOffset.from(new Date(endIso)));
}

function searchOptions() {
  return client.newOptions().filter(january()).orderby("ContentDate/Start", "asc").top(page);
}

function names(items) {
  return items.map((p) => p.Name);
}

async function main() {
  const report = {};

  // 1. the first page, with the total ($count=true)
  const first = await client.newRequest({ collection: "Products", params: searchOptions().count(true) });
  report.first = { count: first["@odata.count"], names: names(first.value), nextLink: first["@odata.nextLink"] ?? null };
  report.count = await products.count(january());

  // 2. every page: $skip and $top from the library, until a short page
  report.pages = [];
  for (let skip = 0; ; skip += page) {
    const items = await products.query(searchOptions().skip(skip));
    report.pages.push(names(items));
    if (items.length < page || report.pages.length > 20) break;
  }

  // 3. one product by its key (an Edm.Guid: unquoted), both key forms of the URL conventions
  const byKey = await products.retrieve(EdmV4.Guid.from(productId));
  const byNamedKey = await products.retrieve({ Id: EdmV4.Guid.from(productId) });
  report.retrieved = [byKey, byNamedKey].map((p) => ({
    Id: p.Id, Name: p.Name, ContentLength: p.ContentLength, context: p["@odata.context"],
  }));

  // 4. $select, with Name eq from the builder
  const selected = await products.query(
    client.newOptions().filter(client.newFilter().field("Name").eq(productName)).select(["Id", "Name", "ContentLength"]),
  );
  report.selected = selected.map((p) => Object.fromEntries(Object.entries(p).filter(([k]) => !k.startsWith("@"))));
  const selectedOne = await products.retrieve(EdmV4.Guid.from(productId), client.newOptions().select(["Name", "Id"]));
  report.selected_one = selectedOne;

  report.requests = requests;
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\nrequests: ${JSON.stringify(requests)}\n`);
  process.exit(1);
});
