// What a user of the generic OData V4 client @odata/client does with an ODIP and a PRIP's
// subscriptions, through the library's entity-set API only: finds a workflow (a filter from the
// builder, $expand), creates production orders (`create`: POST ProductionOrders), cancels one
// (the bound action `action("OData.CSC.Cancel", id)`), polls another by its key (`retrieve`)
// until it has ended, reads its output product ($expand=Product), counts and lists the orders by
// status; then creates a subscription and pauses, resumes and cancels it (bound actions). Prints
// one JSON report on stdout, with every request the library sent and the status it got.
// Arguments: odipEndpoint pripEndpoint inputName notificationUrl.
// Environment: ODIP_USERNAME, ODIP_PASSWORD (HTTP Basic, the library's `credential`).
// Used by tests/clients/test_odip_clients.py.
"use strict";
const { OData, defaultProxy } = require("@odata/client");

const [odipEndpoint, pripEndpoint, inputName, notificationUrl] = process.argv.slice(2);
const requests = [];
const WAIT_MS = 60000; // every wait is bounded

async function recordingFetch(url, init) {
  const result = await defaultProxy(url, init);
  requests.push({ method: init.method, url, status: result.response.status, body: init.body ?? null });
  return result;
}

function client(serviceEndpoint) {
  return OData.New4({
    serviceEndpoint,
    credential: { username: process.env.ODIP_USERNAME, password: process.env.ODIP_PASSWORD },
    fetchProxy: recordingFetch,
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const report = {};
  const odip = client(odipEndpoint);
  const workflows = odip.getEntitySet("Workflows");
  const orders = odip.getEntitySet("ProductionOrders");

  // 1. the workflow, by name, with its options
  const found = await workflows.query(odip.newOptions()
    .filter(odip.newFilter().field("Name").eqString("S2_L1C_L2A")).expand("WorkflowOptions"));
  report.workflows = found.map((w) => ({ Id: w.Id, Name: w.Name, Options: w.WorkflowOptions.map((o) => o.Name) }));

  // 2. a slow order holds the only worker; the demo order queues behind it
  const slow = await orders.create({ WorkflowName: "SLOW", InputProductReference: { Reference: inputName } });
  const demo = await orders.create({
    WorkflowId: found[0].Id,
    InputProductReference: { Reference: inputName },
    WorkflowOptions: [{ Name: "ImageFormat", Value: "JPG" }],
    Priority: 80,
    NotificationEndpoint: notificationUrl,
  });
  report.created = [slow, demo].map((o) => ({ Id: o.Id, Status: o.Status, WorkflowName: o.WorkflowName, Priority: o.Priority }));

  // 3. cancel the slow one: the bound action
  const cancelled = await orders.action("OData.CSC.Cancel", slow.Id);
  report.cancelled = { Id: cancelled.Id, Status: cancelled.Status, context: cancelled["@odata.context"] };

  // 4. the demo order, by its key, until it has ended
  const statuses = [demo.Status];
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const current = await orders.retrieve(demo.Id);
    if (current.Status !== statuses[statuses.length - 1]) statuses.push(current.Status);
    if (["completed", "failed", "cancelled"].includes(current.Status) || Date.now() > deadline) {
      report.finished = { Status: current.Status, StatusMessage: current.StatusMessage, OrderOutputSize: current.OrderOutputSize };
      break;
    }
    await sleep(100);
  }
  report.statuses = statuses;

  // 5. its output product, inline
  const expanded = await orders.retrieve(demo.Id, odip.newOptions().expand("Product"));
  report.product = expanded.Product && { Id: expanded.Product.Id, Name: expanded.Product.Name, ContentLength: expanded.Product.ContentLength };

  // 6. cancelling an order that has ended changes nothing
  const again = await orders.action("OData.CSC.Cancel", demo.Id);
  report.cancelAgain = again.Status;

  // 7. the orders by status: a count and a list from the builder
  report.completedCount = await orders.count(odip.newFilter().field("Status").eqString("completed"));
  const listed = await orders.query(odip.newOptions().orderby("SubmissionDate", "asc").select(["Id", "Status"]));
  report.listed = listed.map((o) => [o.Id, o.Status]);

  // 8. the output in the PRIP catalogue, by its key
  const prip = client(pripEndpoint);
  const products = prip.getEntitySet("Products");
  if (report.product) {
    const product = await products.retrieve(report.product.Id);
    report.catalogued = { Id: product.Id, Name: product.Name };
  }

  // 9. a subscription and its bound actions
  const subscriptions = prip.getEntitySet("Subscriptions");
  const subscription = await subscriptions.create({
    FilterParam: "startswith(Name,'S2B_MSIL2A_')", NotificationEndpoint: notificationUrl, Priority: 7,
  });
  report.subscription = [subscription.Status];
  for (const action of ["OData.CSC.Pause", "OData.CSC.Resume", "OData.CSC.Cancel"]) {
    report.subscription.push((await subscriptions.action(action, subscription.Id)).Status);
  }
  report.subscription.push((await subscriptions.retrieve(subscription.Id)).Status);
  report.subscriptionId = subscription.Id;

  report.requests = requests;
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ error: String(error && error.stack || error), requests }) + "\n");
  process.exit(1);
});
