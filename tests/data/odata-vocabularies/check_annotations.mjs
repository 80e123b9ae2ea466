// Every annotation of a CSDL JSON document checked against the OASIS vocabularies it uses, with
// SAP's vocabulary service (@sap-ux/odata-vocabularies, which ships the OASIS Core, Validation and
// Capabilities vocabularies): the term exists, it applies to the kind of element it annotates
// (checkTermApplicability), and its value has the term's type: records only with properties of
// the record type (inherited ones too), Booleans, strings, integers, enumeration members
// (several, space-separated, only for flags), values of the annotated property's own type for
// Edm.PrimitiveType (the Validation bounds), collections where the type is one, and property and
// navigation property paths that resolve on the annotated entity set's type.
// Arguments: CSDL JSON files. Prints one JSON line: {"checked": [...], "problems": [...]}, each
// problem naming the file, the annotated element and the term.
// Used by tests/web/test_metadata_vocabularies.py.
import { readFileSync } from "node:fs";
import { VocabularyService } from "@sap-ux/odata-vocabularies";

const service = new VocabularyService();
const checked = [];
const problems = [];

function typeOf(csdl, name) {
  const dot = name.lastIndexOf(".");
  const schema = csdl[name.slice(0, dot)];
  return schema ? schema[name.slice(dot + 1)] : undefined;
}

// The members of a structured type, its base types' too.
function members(csdl, type) {
  const found = {};
  for (let current = type; current; current = current.$BaseType ? typeOf(csdl, current.$BaseType) : undefined) {
    for (const [name, member] of Object.entries(current)) {
      if (!name.startsWith("$") && !name.includes("@") && !(name in found)) found[name] = member;
    }
  }
  return found;
}

// A path (Edm.PropertyPath, Edm.NavigationPropertyPath) resolved from a structured type.
function resolves(csdl, type, path, navigation) {
  let current = type;
  const segments = path.split("/");
  for (const [index, segment] of segments.entries()) {
    if (!current) return false;
    const member = members(csdl, current)[segment];
    if (!member) {
      const cast = typeOf(csdl, segment); // a type cast segment
      if (cast && (cast.$Kind === "EntityType" || cast.$Kind === "ComplexType")) { current = cast; continue; }
      return false;
    }
    if (index === segments.length - 1) return navigation ? member.$Kind === "NavigationProperty" : true;
    current = member.$Type ? typeOf(csdl, member.$Type) : undefined;
  }
  return false;
}

// Inside a navigation property's restrictions, paths are relative to the navigation's target.
function restrictionContext(context, record) {
  if (typeof record.NavigationProperty !== "string" || !context.entityType) return context;
  const navigation = members(context.csdl, context.entityType)[record.NavigationProperty];
  if (!navigation || navigation.$Kind !== "NavigationProperty") return context;
  return { ...context, entityType: typeOf(context.csdl, navigation.$Type), entityTypeName: navigation.$Type };
}

function checkValue(where, value, type, isCollection, context) {
  if (isCollection) {
    if (!Array.isArray(value)) { problems.push(`${where}: a collection of ${type} expected, got ${JSON.stringify(value)}`); return; }
    value.forEach((item, i) => checkValue(`${where}[${i}]`, item, type, false, context));
    return;
  }
  switch (type) {
    case "Edm.Boolean":
      if (typeof value !== "boolean") problems.push(`${where}: a Boolean expected, got ${JSON.stringify(value)}`);
      return;
    case "Edm.String":
      if (typeof value !== "string") problems.push(`${where}: a string expected, got ${JSON.stringify(value)}`);
      return;
    case "Edm.PrimitiveType": // a value of the annotated element's own type (Validation.Minimum)
      if (value === null || typeof value === "object") {
        problems.push(`${where}: a primitive value expected, got ${JSON.stringify(value)}`);
      } else if (context.elementType && context.elementType !== "Edm.PrimitiveType") {
        checkValue(where, value, context.elementType, false, context);
      }
      return;
    case "Edm.Double": case "Edm.Single": case "Edm.Decimal":
      if (typeof value !== "number") problems.push(`${where}: a number expected, got ${JSON.stringify(value)}`);
      return;
    case "Edm.Int16": case "Edm.Int32": case "Edm.Int64": case "Edm.Byte":
      if (!Number.isInteger(value)) problems.push(`${where}: an integer expected, got ${JSON.stringify(value)}`);
      return;
    case "Edm.PropertyPath": case "Edm.NavigationPropertyPath": case "Edm.AnyPropertyPath": {
      // CSDL JSON writes a path constant as a string holding the path
      if (typeof value !== "string") { problems.push(`${where}: a path (a string) expected, got ${JSON.stringify(value)}`); return; }
      if (context.entityType && !resolves(context.csdl, context.entityType, value, type === "Edm.NavigationPropertyPath")) {
        problems.push(`${where}: the path ${value} does not resolve on ${context.entityTypeName}`);
      }
      return;
    }
    default:
      break;
  }
  const described = service.getType(type);
  if (!described) { problems.push(`${where}: unknown type ${type}`); return; }
  if (described.kind === "EnumType") {
    const names = new Set(described.values.map((member) => member.name));
    const given = typeof value === "string" ? value.split(/[ ,]+/).filter(Boolean) : null;
    if (!given || !given.length || given.some((name) => !names.has(name)) || (given.length > 1 && !described.isFlags)) {
      problems.push(`${where}: not a member of ${type}: ${JSON.stringify(value)}`);
    }
    return;
  }
  if (described.kind === "TypeDefinition") {
    checkValue(where, value, described.underlyingType, false, context);
    return;
  }
  if (described.kind === "ComplexType") {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      problems.push(`${where}: a record of ${type} expected, got ${JSON.stringify(value)}`);
      return;
    }
    let recordType = type;
    if (value["@odata.type"]) recordType = value["@odata.type"].replace(/^#/, "");
    const complex = service.getComplexType(recordType);
    if (!complex) { problems.push(`${where}: unknown record type ${recordType}`); return; }
    for (const [name, member] of Object.entries(value)) {
      if (name.startsWith("@")) continue;
      const property = complex.properties.get ? complex.properties.get(name) : complex.properties[name];
      if (!property) { problems.push(`${where}: ${recordType} has no property ${name}`); continue; }
      const inner = name === "NavigationProperty" ? context : restrictionContext(context, value);
      checkValue(`${where}/${name}`, member, property.type, property.isCollection, inner);
    }
    return;
  }
  problems.push(`${where}: cannot check a value of ${type} (${described.kind})`);
}

function checkAnnotations(file, csdl, element, kinds, targetType, where, context) {
  for (const [key, value] of Object.entries(element)) {
    const at = key.indexOf("@");
    if (at < 0 || key.startsWith("@odata.")) continue;
    const owner = key.slice(0, at); // "" for the element's own; "Member@Term" on an enum member
    const term = key.slice(at + 1).split("#")[0];
    const label = `${file}: ${where}${owner ? "/" + owner : ""} @${term}`;
    const definition = service.getTerm(term);
    if (!definition) { problems.push(`${label}: unknown term`); continue; }
    const ownKinds = owner ? ["Member"] : kinds;
    const applicability = service.checkTermApplicability(term, ownKinds, targetType);
    if (applicability !== 0) problems.push(`${label}: does not apply to ${ownKinds.join("/")} (TermApplicability ${applicability})`);
    checkValue(label, value, definition.type, definition.isCollection, context);
    checked.push(`${where}${owner ? "/" + owner : ""} @${term}`);
  }
}

for (const file of process.argv.slice(2)) {
  const csdl = JSON.parse(readFileSync(file, "utf-8"));
  const name = file.split("/").pop();
  checkAnnotations(name, csdl, csdl, ["Schema"], "", "(document)", { csdl });
  for (const [namespace, schema] of Object.entries(csdl)) {
    if (namespace.startsWith("$")) continue;
    checkAnnotations(name, csdl, schema, ["Schema"], "", namespace, { csdl });
    if (schema.$Annotations) problems.push(`${name}: ${namespace}/$Annotations: external annotations are not checked`);
    for (const [memberName, member] of Object.entries(schema)) {
      if (memberName.startsWith("$") || memberName.includes("@")) continue;
      const qualified = `${namespace}.${memberName}`;
      const overloads = Array.isArray(member) ? member : [member];
      for (const element of overloads) {
        const kind = element.$Kind;
        if (kind === "EntityType" || kind === "ComplexType") {
          checkAnnotations(name, csdl, element, [kind], qualified, qualified, { csdl, entityType: element, entityTypeName: qualified });
          for (const [propertyName, property] of Object.entries(element)) {
            if (propertyName.startsWith("$") || propertyName.includes("@")) continue;
            const propertyKind = property.$Kind === "NavigationProperty" ? "NavigationProperty" : "Property";
            checkAnnotations(name, csdl, property, [propertyKind], property.$Type ?? "Edm.String", `${qualified}/${propertyName}`,
                             { csdl, elementType: property.$Type ?? "Edm.String" });
          }
        } else if (kind === "EnumType" || kind === "TypeDefinition" || kind === "Term") {
          checkAnnotations(name, csdl, element, [kind], qualified, qualified, { csdl });
        } else if (kind === "Action" || kind === "Function") {
          checkAnnotations(name, csdl, element, [kind], qualified, qualified, { csdl });
          for (const parameter of element.$Parameter ?? []) {
            checkAnnotations(name, csdl, parameter, ["Parameter"], parameter.$Type ?? "Edm.String", `${qualified}(${parameter.$Name})`,
                             { csdl, elementType: parameter.$Type ?? "Edm.String" });
          }
          if (element.$ReturnType) checkAnnotations(name, csdl, element.$ReturnType, ["ReturnType"], element.$ReturnType.$Type ?? "Edm.String", `${qualified}/$ReturnType`, { csdl });
        } else if (kind === "EntityContainer") {
          checkAnnotations(name, csdl, element, ["EntityContainer"], qualified, qualified, { csdl });
          for (const [setName, set] of Object.entries(element)) {
            if (setName.startsWith("$") || setName.includes("@")) continue;
            const setKind = set.$Action ? "ActionImport" : set.$Function ? "FunctionImport" : set.$Collection ? "EntitySet" : "Singleton";
            const entityType = set.$Type ? typeOf(csdl, set.$Type) : undefined;
            checkAnnotations(name, csdl, set, [setKind], set.$Type ?? "", `${qualified}/${setName}`,
                             { csdl, entityType, entityTypeName: set.$Type });
          }
        } else {
          problems.push(`${name}: ${qualified}: an element of unknown kind ${kind}`);
        }
      }
    }
  }
}
process.stdout.write(JSON.stringify({ checked, problems }) + "\n");
