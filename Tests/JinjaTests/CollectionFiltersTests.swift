import Foundation
@testable import Jinja
import XCTest

/// Filters over sequences and mappings; those that return generators in Jinja2 return one-shot iterators here too.
/// Expected texts rendered by Python jinja2 3.1.6 in transformers' environment.
final class CollectionFiltersTests: XCTestCase {
    /// `select`/`reject` with tests, `selectattr`/`rejectattr` (with `equalto`), `map` by attribute or filter.
    func testSelectRejectAndMap() throws {
        try expectRenders([
            ("{{ [{'r':'u'},{'r':'a'}]|selectattr('r','equalto','u')|list }}|{{ [{'r':'u'},{'r':'a'}]|rejectattr('r','eq','u')|list }}|{{ [{'r':'u'},{}]|selectattr('r')|list }}|{{ [{'r':'u'},{}]|rejectattr('r', 'defined')|list }}", "[{'r': 'u'}]|[{'r': 'a'}]|[{'r': 'u'}]|[{}]"),
            ("{{ [{'r':'u'},{'r':'a'}]|map(attribute='r')|join(',') }}|{{ [1,2]|map('string')|list }}|{{ [{'a':1},{}]|map(attribute='a', default=9)|list }}|{{ ['a','b']|map('upper')|join }}|{{ [' a', 'b ']|map('trim')|list }}", "u,a|['1', '2']|[1, 9]|AB|['a', 'b']"),
            ("{{ [[1,2],[3]]|map('length')|list }}|{{ [{'a': {'b': 1}}]|map(attribute='a.b')|list }}|{{ [[1, 2]]|map(attribute='1')|list }}|{{ ['a,b']|map('replace', ',', ';')|list }}", "[2, 1]|[1]|[2]|['a;b']"),
            ("{{ [1,2,3,4]|select('odd')|list }}{{ [1,2,3,4]|reject('even')|list }}{{ [1,2,3,6]|select('divisibleby', 3)|list }}{{ [1,5,9]|select('>', 4)|list }}{{ ['a', 1, none]|select('string')|list }}{{ [0, 1, '', 'x']|select|list }}{{ [1, 2]|select('in', [2, 3])|list }}", "[1, 3][1, 3][3, 6][5, 9]['a'][1, 'x'][2]"),
            ("{{ messages|selectattr('role', 'equalto', 'user')|list|length }}|{{ messages|map(attribute='role')|unique|join('+') }}", "2|user+assistant"),
        ], context: ["messages": [["role": "user"], ["role": "assistant"], ["role": "user"]]])
    }

    /// A generator is true even when empty, has no length, and is empty once consumed.
    func testGeneratorsAreOneShot() throws {
        try expectRenders([
            ("{% if []|select %}T{% else %}F{% endif %}{% if []|select|list %}T{% else %}F{% endif %}", "TF"),
            ("{% set g = [1,2,3]|select %}{% for a in g %}{{a}}{% endfor %}|{% for a in g %}{{a}}{% endfor %}|{{ g|list }}", "123||[]"),
            ("{% set g = [1,2,3]|select %}{{ g|first }}{{ g|list }}", "1[2, 3]"),
            ("{{ [1,2]|reverse is iterable }}{{ [1,2]|reverse is sequence }}{{ 2 in [1, 2, 3]|select }}", "TrueFalseTrue"),
        ])
    }

    /// `sort`, `dictsort`, `unique`, `min`, `max` (case-insensitive unless asked), `reverse`, `first`, `last`.
    func testSortingAndOrdering() throws {
        try expectRenders([
            ("{{ ['b','A','a']|sort }}|{{ ['b','A','a']|sort(case_sensitive=true) }}|{{ [3,1,2]|sort(reverse=true) }}|{{ [{'n':2},{'n':1}]|sort(attribute='n') }}|{{ [{'n':1,'m':2},{'n':1,'m':1}]|sort(attribute='n,m') }}|{{ [2, 1.5, true]|sort }}", "['A', 'a', 'b']|['A', 'a', 'b']|[3, 2, 1]|[{'n': 1}, {'n': 2}]|[{'n': 1, 'm': 1}, {'n': 1, 'm': 2}]|[True, 1.5, 2]"),
            ("{{ {'b':1,'a':2}|dictsort }}|{{ {'b':1,'A':2, 'a':0}|dictsort }}|{{ {'b':1,'a':2}|dictsort(by='value', reverse=true) }}|{{ {'b':1,'A':2}|dictsort(true) }}", "[('a', 2), ('b', 1)]|[('A', 2), ('a', 0), ('b', 1)]|[('a', 2), ('b', 1)]|[('A', 2), ('b', 1)]"),
            ("{{ ['a','A','b']|unique|list }}|{{ [1,2,1]|unique|list }}|{{ ['a','A']|unique(true)|list }}|{{ [{'r':'u'},{'r':'U'},{'r':'a'}]|unique(attribute='r')|list }}", "['a', 'b']|[1, 2]|['a', 'A']|[{'r': 'u'}, {'r': 'a'}]"),
            ("{{ [1,2,3]|min }}|{{ [1,2,3]|max }}|{{ ['a','B']|max }}|{{ ['a','B']|max(true) }}|{{ []|max }}|{{ [{'n':2},{'n':5}]|max(attribute='n') }}", "1|3|B|a||{'n': 5}"),
            ("{{ [1,2]|reverse|list }}{{ 'abc'|reverse }}{{ {'a': 1, 'b': 2}|reverse|list }}{% for i in (1, 2, 3)|reverse %}{{ i }}{% endfor %}", "[2, 1]cba['b', 'a']321"),
            ("{{ u|first }}|{{ []|first }}|{{ 'abc'|first }}{{ 'abc'|last }}{{ {'a':1,'b':2}|last }}{{ {'a':1,'b':2}|first }}|{{ []|last }}", "||acba|"),
        ])
    }

    /// `join` (with `attribute`), `length`/`count`, `batch`, `slice`, `items`, `list`, `attr`.
    func testJoinLengthBatchSliceItems() throws {
        try expectRenders([
            ("{{ [1,2,3]|join }}|{{ [{'a':'x'},{'a':'y'}]|join('-', attribute='a') }}|{{ [1, none, 'a', 2.0]|join(', ') }}|{{ []|join('x') }}", "123|x-y|1, None, a, 2.0|"),
            ("{{ 'abc'|length }}{{ {'a':1}|length }}{{ [1, 2]|count }}{{ 'héllo'|length }}{{ '👩‍👩‍👧'|length }}", "31255"),
            ("{{ [1,2,3,4,5]|batch(2)|list }}|{{ [1,2,3,4,5]|batch(2, 'x')|list }}|{{ [1,2,3,4,5]|slice(2)|list }}|{{ [1,2,3,4]|slice(3, 0)|list }}", "[[1, 2], [3, 4], [5]]|[[1, 2], [3, 4], [5, 'x']]|[[1, 2, 3], [4, 5]]|[[1, 2], [3, 0], [4, 0]]"),
            ("{{ {'a':1}|items|list }}|{{ u|items|list }}|{% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}{{ v }}{% endfor %}|{{ {'a':1}|list }}", "[('a', 1)]|[]|a1b2|['a']"),
            ("{{ [1, 2]|attr('count') is callable }}|{{ {'a': 1}|attr('a') }}|{{ {'a': 1}|attr('items') is defined }}", "True||True"),
        ])
    }

    /// Misuse fails with Python's message; a generator's error surfaces when it is consumed.
    func testCollectionFilterErrors() throws {
        // jinja2: TypeError: object of type 'generator' has no len()
        expectFailure("{{ [1,2]|map('string')|length }}", what: "object of type 'generator' has no len()")
        // jinja2: TypeError: 'generator' object is not reversible
        expectFailure("{{ [1,2,3]|select|last }}", what: "'generator' object is not reversible")
        // jinja2: TypeError: '<' not supported between instances of 'str' and 'int'
        expectFailure("{{ [1, 'a']|sort }}", what: "'<' not supported between instances of 'str' and 'int'")
        // jinja2: TypeError: Can only get item pairs from a mapping.
        expectFailure("{{ [1]|items|list }}", what: "Can only get item pairs from a mapping.")
        // jinja2: TemplateRuntimeError: No filter named 'nosuchfilter'.
        expectFailure("{{ [1, 2]|map('nosuchfilter')|list }}", what: "No filter named 'nosuchfilter'.")
        // jinja2: TemplateRuntimeError: No test named 'nosuchtest'.
        expectFailure("{{ [1, 2]|select('nosuchtest')|list }}", what: "No test named 'nosuchtest'.")
        // jinja2: TypeError: unhashable type: 'list'
        expectFailure("{{ [[1], [2]]|unique|list }}", what: "unhashable type: 'list'")
        // jinja2: AttributeError: 'list' object has no attribute 'items'
        expectFailure("{{ [1]|dictsort }}", what: "'list' object has no attribute 'items'")
    }

    func testAGeneratorsErrorWaitsUntilItIsConsumed() throws {
        // Python's `map` is lazy: a failing item only fails when the generator is read.
        XCTAssertEqual(try Template("{% set g = [1, 'a']|map('abs') %}ok").render([:]), "ok")
        XCTAssertEqual(try Template("{{ ([-1, 'a']|map('abs'))|first }}").render([:]), "1")
        expectFailure("{{ [-1, 'a']|map('abs')|list }}", kind: .runtime, what: "bad operand type for abs(): 'str'")
    }
}
