// What a user of Apache Olingo's OData client for JavaScript (odatajs) does with a PRIP: reads
// $metadata with the library's metadata handler, then a page of products with the library's
// JSON handler, which reads the payload by the odata.metadata parameter of its Content-Type
// (none, minimal: entity ids computed from the model, full: as sent); follows the links of a
// full-metadata page (each product's @odata.id, its media read link, its navigation links, an
// attribute's @odata.id),
// resolved against the context URL as OData JSON 4.3 says; reads one product's individual
// properties and their raw values ($value); a product's attributes listed by options nested in
// $expand and on their own URL. Prints one JSON report on stdout.
// Arguments: serviceRoot (ending with "/"). Environment: PRIP_USERNAME, PRIP_PASSWORD.
// Used by tests/clients/test_odatajs.py.
"use strict";
const odatajs = require("odatajs/lib/odata.js");

const [root] = process.argv.slice(2);
const authorization = "Basic " + Buffer.from(`${process.env.PRIP_USERNAME}:${process.env.PRIP_PASSWORD}`).toString("base64");
const PAGE = "Products?$top=3&$orderby=Name&$count=true";
// A file is no OData payload: read without a payload handler (the library has none for it).
const RAW = { read() {}, write() {}, accept: "*/*", maxDataServiceVersion: "4.0" };

// odatajs.read with the user's credentials; resolves {data, status, contentType}.
function read(uri, { accept, handler, metadata } = {}) {
  const headers = { Authorization: authorization };
  if (accept) headers.Accept = accept;
  return new Promise((resolve, reject) => {
    odatajs.read({ requestUri: uri, headers },
      (data, response) => resolve({ data, status: response.statusCode, contentType: response.headers["Content-Type"] }),
      (err) => reject(new Error(`${uri}: ${err.message} ${err.response ? err.response.statusCode + " " + String(err.response.body).slice(0, 500) : ""}`)),
      handler, undefined, metadata);
  });
}

function resolveLink(requestUri, context, relative) {
  return new URL(relative, new URL(context, requestUri)).href;
}

async function main() {
  const report = {};
  const metadata = (await read(root + "$metadata", { handler: odatajs.metadataHandler })).data;
  report.entityTypes = metadata.dataServices.schema.flatMap((s) => (s.entityType || []).map((t) => t.name));

  const minimal = await read(root + PAGE, { metadata });
  report.minimal = { contentType: minimal.contentType, count: minimal.data["@odata.count"],
                     products: minimal.data.value.map((p) => ({ Id: p.Id, Name: p.Name, ContentLength: p.ContentLength })) };

  const fullUri = root + PAGE;
  const full = await read(fullUri, { accept: "application/json;odata.metadata=full", metadata });
  report.full = { contentType: full.contentType, count: full.data["@odata.count"], nextLink: full.data["@odata.nextLink"],
                  products: [] };
  for (const product of full.data.value) {
    const links = {};
    for (const name of Object.keys(product)) {
      if (name.endsWith("@odata.navigationLink")) links[name.split("@")[0]] = product[name];
    }
    const entry = { Id: product.Id, Name: product.Name, ContentLength: product.ContentLength, type: product["@odata.type"],
                    propertyTypes: { ContentLength: product["ContentLength@odata.type"],
                                     PublicationDate: product["PublicationDate@odata.type"], Name: product["Name@odata.type"] },
                    id: product["@odata.id"], mediaReadLink: product["@odata.mediaReadLink"], links };
    // the entity at its id, its file, its navigation properties: what the payload says, followed
    const self = await read(resolveLink(fullUri, full.data["@odata.context"], product["@odata.id"]), { metadata });
    entry.atId = { status: self.status, Id: self.data.Id };
    const media = await read(resolveLink(fullUri, full.data["@odata.context"], product["@odata.mediaReadLink"]),
                             { handler: RAW });
    entry.media = { status: media.status, contentType: media.contentType, mediaContentType: product["@odata.mediaContentType"] };
    entry.followed = {};
    for (const [name, link] of Object.entries(links)) {
      const linkUri = resolveLink(fullUri, full.data["@odata.context"], link);
      const answer = await read(linkUri, { accept: "application/json;odata.metadata=full" });
      entry.followed[name] = { status: answer.status, count: answer.data.value.length,
                               types: answer.data.value.map((item) => item["@odata.type"]) };
      const first = answer.data.value[0];
      if (first !== undefined) {  // an attribute at its own id
        const one = await read(resolveLink(linkUri, answer.data["@odata.context"], first["@odata.id"]));
        entry.followed[name].first = { id: first["@odata.id"], status: one.status, Name: one.data.Name, expected: first.Name };
      }
    }
    report.full.products.push(entry);
  }

  const none = await read(root + PAGE, { accept: "application/json;odata.metadata=none", metadata });
  report.none = { contentType: none.contentType, names: Object.keys(none.data),
                  productNames: Object.keys(none.data.value[0]), products: none.data.value.map((p) => p.Name) };

  const numbers = await read(root + PAGE, { accept: "application/json;IEEE754Compatible=true", metadata });
  report.ieee754 = { contentType: numbers.contentType, count: numbers.data["@odata.count"],
                     lengths: numbers.data.value.map((p) => p.ContentLength) };
  // one product's individual properties, as the JSON handler reads them (minimal and full), and
  // raw values ($value) as the library's text handler reads them
  const first = minimal.data.value[0];
  report.properties = { Id: first.Id, values: {} };
  for (const name of ["Name", "ContentLength", "PublicationDate", "ContentDate", "Checksum", "GeoFootprint"]) {
    const uri = `${root}Products(${first.Id})/${name}`;
    const plain = await read(uri, { metadata });
    const detailed = await read(uri, { accept: "application/json;odata.metadata=full", metadata });
    report.properties.values[name] = { status: plain.status, minimal: plain.data, full: detailed.data,
                                       fullContentType: detailed.contentType };
  }
  // a complex property's member by its path: in full metadata the library takes the answer's
  // types; in minimal metadata its context parser (one property segment after the entity)
  // cannot type it, so it is read in none as well
  const member = `${root}Products(${first.Id})/ContentDate/Start`;
  const memberFull = await read(member, { accept: "application/json;odata.metadata=full", metadata });
  const bare = await read(member, { accept: "application/json;odata.metadata=none", metadata });
  report.properties.values["ContentDate/Start"] = { status: bare.status, none: bare.data, noneContentType: bare.contentType,
                                                   full: memberFull.data, fullContentType: memberFull.contentType };
  for (const name of ["Name", "ContentLength", "Online", "PublicationDate", "ContentDate/Start"]) {
    const value = await read(`${root}Products(${first.Id})/${name}/$value`);
    report.properties.values[name] = { ...report.properties.values[name], raw: value.data, rawContentType: value.contentType };
  }
  // a product's attributes listed by options nested in $expand (full and no metadata: odatajs
  // 4.0.0's minimal-metadata reader looks an expanded navigation property up among the
  // structural ones and fails on any $expand, with options or without), against the same page
  // expanded without options, and by the same options on the navigation's own URL
  const expanded = "Products?$top=2&$orderby=Name&$select=Name&$expand=";
  const options = "Attributes($filter=Name eq 'cloudCover' or Name eq 'orbitNumber';$orderby=Name desc;" +
                  "$select=Name,Value;$count=true)";
  report.nested = { minimalErrors: [] };
  for (const query of [expanded + "Attributes", expanded + encodeURIComponent(options)]) {
    await read(root + query, { metadata }).then(
      () => report.nested.minimalErrors.push(null), (err) => report.nested.minimalErrors.push(err.message.slice(0, 300)));
  }
  const plain = await read(root + expanded + "Attributes", { accept: "application/json;odata.metadata=none" });
  report.nested.plain = plain.data.value.map((p) => ({ Name: p.Name, attributes: p.Attributes }));
  for (const [level, accept] of [["none", "application/json;odata.metadata=none"],
                                 ["full", "application/json;odata.metadata=full"]]) {
    const page = await read(root + expanded + encodeURIComponent(options), { accept, metadata });
    report.nested[level] = {
      context: page.data["@odata.context"],
      products: page.data.value.map((p) => ({
        Name: p.Name, count: p["Attributes@odata.count"],
        attributes: p.Attributes.map((a) => ({ Name: a.Name, Value: a.Value, type: a["@odata.type"],
                                               valueType: a["Value@odata.type"], keys: Object.keys(a) })) })) };
  }
  const listedUri = `${root}Products(${first.Id})/Attributes?` + new URLSearchParams(
    { $filter: "ValueType eq 'Integer' or Name eq 'cloudCover'", $orderby: "Name desc", $count: "true", $top: "5" });
  const listed = await read(listedUri, { metadata });
  report.listed = { count: listed.data["@odata.count"], names: listed.data.value.map((a) => a.Name),
                    types: listed.data.value.map((a) => a["@odata.type"]) };
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
