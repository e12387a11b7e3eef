package phpserialize_test

import (
	"fmt"

	"github.com/phpsessd/phpsessd/phpserialize"
)

func ExampleDecodeSession() {
	data := []byte(`user|O:4:"User":2:{s:2:"id";i:7;s:7:"` + "\x00*\x00role" + `";s:5:"admin";}again|r:1;`)
	s, err := phpserialize.DecodeSession("php", data)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range s.Vars {
		fmt.Printf("%s: %#v\n", v.Name, v.Value)
	}
	out, _ := phpserialize.EncodeSession("php", s)
	fmt.Println(string(out) == string(data))
	// Output:
	// user: &phpserialize.Object{Class:"User", Props:[]phpserialize.Entry{phpserialize.Entry{Key:"id", Value:7}, phpserialize.Entry{Key:"\x00*\x00role", Value:"admin"}}}
	// again: phpserialize.ObjectRef{Slot:1}
	// true
}

func ExampleSessionJSON() {
	s, _ := phpserialize.DecodeSession("php", []byte(`cart|a:1:{i:0;s:5:"apple";}bin|s:2:"`+"\xff\xfe"+`";same|R:2;`))
	out, _ := phpserialize.SessionJSON("php", s)
	fmt.Print(string(out))
	// Output:
	// {
	//   "handler": "php",
	//   "vars": {
	//     "cart": [
	//       "apple"
	//     ],
	//     "bin": {
	//       "base64": "//4="
	//     },
	//     "same": {
	//       "reference": 2,
	//       "target": "$_SESSION['cart'][0]"
	//     }
	//   }
	// }
}

func ExampleArray_Set() {
	var a phpserialize.Array
	a.Set(phpserialize.String("10"), phpserialize.String("ten"))     // "10" becomes int 10
	a.Set(phpserialize.String("010"), phpserialize.String("oh-ten")) // "010" stays a string
	a.Set(phpserialize.Int(10), phpserialize.String("TEN"))          // replaces key 10 in place
	out, _ := phpserialize.Encode(&a)
	fmt.Println(string(out))
	// Output:
	// a:2:{i:10;s:3:"TEN";s:3:"010";s:6:"oh-ten";}
}

func ExampleSyntaxError() {
	_, err := phpserialize.Decode([]byte(`a:1:{i:0;i:12x}`))
	fmt.Println(err)
	// Output:
	// phpserialize: offset 13: expected ';' after integer, found 'x'
}
